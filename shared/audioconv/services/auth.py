"""Sign-up, log-in and API tokens (argon2 password hashes, signed JWTs)."""

from __future__ import annotations

import re
from datetime import timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from audioconv.domain import throttle
from audioconv.domain.errors import Conflict, InvalidInput, Unauthorized
from audioconv.domain.identity import normalise_email, normalise_username
from audioconv.domain.model import User, valid_id
from audioconv.services import throttling
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
    if len(password1) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password1) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"password must be at most {MAX_PASSWORD_CHARS} characters")
    with deps.uow() as uow:
        if uow.users.by_username(username):
            raise Conflict("username is already taken")
        if uow.users.by_email(email):
            raise Conflict("email is already registered")
        user = User(
            username=username,
            email=email,
            password_hash=_hasher.hash(password1),
            created_at=deps.clock(),
        )
        uow.users.add(user)
        uow.commit()
    return user


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
    now = deps.clock()
    claims = {
        "sub": str(user.id),
        "iat": now,
        "exp": now + timedelta(seconds=deps.settings.token_ttl_seconds),
    }
    # Explicit, though PyJWT's default (so dropping it is an equivalent mutant).
    return jwt.encode(claims, deps.settings.signing_key, algorithm="HS256")  # pragma: no mutate


def authenticate(deps: Dependencies, authorization: str | None) -> int:
    """The user id a ``Bearer`` token stands for; Unauthorized if none is valid."""
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
    with deps.uow(readonly=True) as uow:
        if uow.users.get(user_id) is None:
            raise Unauthorized("invalid token")
    return user_id
