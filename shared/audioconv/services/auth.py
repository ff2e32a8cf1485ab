"""Sign-up, log-in and API tokens (argon2 password hashes, signed JWTs)."""

from __future__ import annotations

from datetime import timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from audioconv.domain.errors import Conflict, InvalidInput, Unauthorized
from audioconv.domain.identity import normalise_email, normalise_username
from audioconv.domain.model import User, valid_id
from audioconv.services.deps import Deps

MIN_PASSWORD_LENGTH = 8
# argon2 needs no more; a longer one is refused before any hashing.
MAX_PASSWORD_CHARS = 1024
_hasher = PasswordHasher()
# Verified against when the user does not exist, so both cases take as long.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
BAD_LOGIN = "invalid username or password"


def signup(deps: Deps, username: str, email: str, password1: str, password2: str) -> User:
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


def login(deps: Deps, username: str, password: str) -> User:
    with deps.uow() as uow:
        user = uow.users.by_username(normalise_username(username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized(BAD_LOGIN) from None
    if user is None:
        raise Unauthorized(BAD_LOGIN)
    return user


def issue_token(deps: Deps, user: User) -> str:
    now = deps.clock()
    claims = {
        "sub": str(user.id),
        "iat": now,
        "exp": now + timedelta(seconds=deps.settings.token_ttl_seconds),
    }
    return jwt.encode(claims, deps.settings.signing_key, algorithm="HS256")


def authenticate(deps: Deps, authorization: str | None) -> int:
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
    try:
        user_id = int(claims["sub"])
    except ValueError:
        raise Unauthorized("invalid token") from None
    if not valid_id(user_id):
        raise Unauthorized("invalid token")
    with deps.uow() as uow:
        if uow.users.get(user_id) is None:
            raise Unauthorized("invalid token")
    return user_id
