"""Sign-up, log-in and API tokens (argon2 password hashes, signed JWTs)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from audioconv.domain import throttle
from audioconv.domain.account import MAX_TOKENS_PER_USER, TOKEN_ID_CHARS, ApiToken, new_token_id
from audioconv.domain.api_key import ApiKey, looks_like_key
from audioconv.domain.errors import Conflict, InvalidInput, Unauthorized
from audioconv.domain.identity import normalise_email, normalise_username
from audioconv.domain.model import User, valid_id
from audioconv.services import api_keys, throttling, verification
from audioconv.services.dependencies import Dependencies

MIN_PASSWORD_LENGTH = 8
# argon2 needs no more; a longer one is refused before any hashing.
MAX_PASSWORD_CHARS = 1024
# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): ~28 ms a verify here, against
# ~190 ms for argon2-cffi's defaults. Older hashes are upgraded at the next log-in.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the user does not exist, so both cases take as long.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
BAD_LOGIN = "invalid username or password"
# A token's subject, as issue_token writes it: a user id in ASCII digits.
_SUBJECT = re.compile(r"[1-9][0-9]{0,9}")
REVOKED = "token has been revoked (logged out, password changed or account deleted); log in again"
OLD_TOKEN = "token was issued before tokens could be revoked; log in again"


def signup(
    deps: Dependencies, username: str, email: str, password1: str, password2: str, client: str = ""
) -> User:
    """Make an account. Sign-ups from one client address are throttled (made or not)."""
    guards = [throttle.SIGNUP_FROM_ADDRESS.on(client)]
    with deps.uow(readonly=True) as uow:
        throttling.check(deps, uow, guards, "too many sign-ups from your address")
    throttling.record(deps, guards)
    username, email = normalise_username(username), normalise_email(email)
    if password1 != password2:
        raise InvalidInput("passwords do not match")
    check_new_password(password1)
    with deps.uow() as uow:
        if uow.users.by_username(username):
            raise Conflict("username is already taken")
        if uow.users.by_email(email):
            raise Conflict("email is already registered")
        user = User(
            username=username,
            email=email,
            password_hash=hash_password(password1),
            created_at=deps.clock(),
        )
        uow.users.add(user)
        uow.commit()
    assert user.id is not None
    verification.publish(deps, user.id)
    return user


def check_new_password(password: str, name: str = "password") -> None:
    """InvalidInput unless ``password`` may be chosen (sign-up and password changes)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"{name} must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"{name} must be at most {MAX_PASSWORD_CHARS} characters")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _login_guards(username: str, client: str) -> list[throttling.Guard]:
    return [
        throttle.LOGIN_FROM_ADDRESS.on(client),
        throttle.LOGIN_ACCOUNT_FROM_ADDRESS.on(username, client),
        throttle.LOGIN_ACCOUNT.on(username),
    ]


def login(deps: Dependencies, username: str, password: str, client: str = "") -> User:
    """The user these credentials name; Unauthorized if wrong, TooManyRequests if
    this client or account has failed too often lately."""
    username = normalise_username(username)
    guards = _login_guards(username, client)
    with deps.uow(readonly=True) as uow:
        user = uow.users.by_username(username)
        counted = throttling.check(deps, uow, guards, "too many failed log-ins")
    if user is not None and _recently_verified(deps, user, password):
        if counted:  # (a password argon2 accepted lately: no guess, nothing to count)
            throttling.forgive(deps, guards[1:])
        return user
    # Counted before argon2 runs, atomically: concurrent guesses cannot all slip in
    # under one count. A right password gives the count back below.
    throttling.attempt(deps, guards, "too many failed log-ins")
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized(BAD_LOGIN) from None
    if user is None:
        raise Unauthorized(BAD_LOGIN)
    if _hasher.check_needs_rehash(user.password_hash):
        _rehash(deps, user, password)
    if deps.settings.login_cache_seconds > 0:
        assert user.id is not None
        deps.recent_logins.remember(user.id, user.password_hash, password, deps.clock())
    # The account's counts are forgiven; the address's loses only this attempt (it may
    # be guessing at other accounts).
    throttling.settle(deps, forgiven=guards[1:], taken_back=guards[:1])
    return user


def _recently_verified(deps: Dependencies, user: User, password: str) -> bool:
    """Whether argon2 accepted this password for this user (and its stored hash)
    within ``login_cache_seconds`` in this process (services/recent_logins.py)."""
    ttl = timedelta(seconds=deps.settings.login_cache_seconds)
    assert user.id is not None
    return ttl > timedelta(0) and deps.recent_logins.remembers(
        user.id, user.password_hash, password, deps.clock(), ttl
    )


def _rehash(deps: Dependencies, user: User, password: str) -> None:
    """Store the password again under the current hashing parameters."""
    assert user.id is not None
    with deps.uow() as uow:
        stored = uow.users.get(user.id, for_update=True)
        if stored is not None:
            stored.password_hash = user.password_hash = _hasher.hash(password)
            uow.commit()


def issue_token(deps: Dependencies, user: User) -> str:
    """A signed token for ``user``, recorded so that it can be revoked (domain/account.py);
    the user's expired tokens, and any beyond the newest MAX_TOKENS_PER_USER, are dropped."""
    assert user.id is not None
    now = deps.clock()
    record = ApiToken(
        new_token_id(), user.id, now, now + timedelta(seconds=deps.settings.token_ttl_seconds)
    )
    with deps.uow() as uow:
        uow.tokens.add(record)
        uow.tokens.prune(user.id, now, MAX_TOKENS_PER_USER)
        uow.commit()
    claims = {"sub": str(user.id), "jti": record.id, "iat": now, "exp": record.expires_at}
    # Explicit, though PyJWT's default (so dropping it is an equivalent mutant).
    return jwt.encode(claims, deps.settings.signing_key, algorithm="HS256")  # pragma: no mutate


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the user, and the id of the token they sent, or the API key
    (``api_key``, with ``token_id`` empty) they sent instead."""

    user_id: int
    token_id: str
    api_key: ApiKey | None = None


def caller(deps: Dependencies, authorization: str | None, client: str = "") -> Caller:
    """The user and token, or API key, a ``Bearer`` header stands for; Unauthorized if
    none is valid (a wrong API key is counted against ``client``, the address)."""
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and looks_like_key(credential.strip()):
        key = api_keys.authenticate(deps, credential.strip(), client)
        return Caller(key.user_id, "", key)
    user_id, token_id = _verified(deps, authorization)
    return Caller(user_id, token_id)


def authenticate(deps: Dependencies, authorization: str | None) -> int:
    """The user id a ``Bearer`` token stands for; Unauthorized if none is valid."""
    return _verified(deps, authorization)[0]


def _verified(deps: Dependencies, authorization: str | None) -> tuple[int, str]:
    """The user id and token id of a valid ``Bearer`` token; Unauthorized otherwise."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    try:
        claims = jwt.decode(
            token.strip(),
            deps.settings.signing_key,
            algorithms=["HS256"],
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token has expired; log in again") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("invalid token") from None
    subject = claims["sub"]
    # Our own spelling only: int() also takes " 1 ", "0_1" and other scripts' digits.
    if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
        raise Unauthorized("invalid token")
    user_id = int(subject)
    if not valid_id(user_id):
        raise Unauthorized("invalid token")
    token_id = claims.get("jti")
    _require_standing(deps, token_id, user_id)
    return user_id, str(token_id)


def _require_standing(deps: Dependencies, token_id: object, user_id: int) -> None:
    """Unauthorized unless the token's record still stands for ``user_id`` (not logged
    out, not revoked by a password change, the account not deleted)."""
    if token_id is None:  # issued before tokens had records
        raise Unauthorized(OLD_TOKEN)
    if not isinstance(token_id, str) or len(token_id) != TOKEN_ID_CHARS:
        raise Unauthorized("invalid token")
    with deps.uow(readonly=True) as uow:
        owner = uow.tokens.owner(token_id)
    if owner != user_id:
        raise Unauthorized(REVOKED)
