"""API keys for scripts: make one (shown once), list them, revoke one, and tell who a
key stands for on each request (domain/api_key.py says how keys are kept).

Only a log-in token may make, list or revoke keys (the routes' scope table,
entrypoints/key_scopes.py, refuses keys there): a leaked key cannot mint others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from audioconv.domain.api_key import (
    KEY_FROM_ADDRESS,
    LAST_USED_RESOLUTION,
    MAX_KEY_NAME_CHARS,
    MAX_KEYS_PER_USER,
    PREFIX_CHARS,
    ApiKey,
    Scope,
    hashing_key,
    key_hash,
    new_key,
    well_formed,
)
from audioconv.domain.errors import Conflict, InvalidInput, NotFound, Unauthorized
from audioconv.domain.model import valid_id
from audioconv.services import throttling
from audioconv.services.dependencies import Dependencies
from audioconv.services.tasks import checked_name

log = logging.getLogger(__name__)
BAD_KEY = "invalid or revoked API key"


def _hash(deps: Dependencies, key: str) -> str:
    return key_hash(hashing_key(deps.settings.signing_key), key)


# What the missing-name message says a name is for.
_KEY_NAME = "what the key is for (e.g. 'nightly job')"


def checked_key_name(value: object) -> str:
    """A key's name, trimmed; InvalidInput unless it is text of 1 to
    MAX_KEY_NAME_CHARS characters without control characters."""
    return checked_name(value, _KEY_NAME, MAX_KEY_NAME_CHARS)


def checked_scopes(value: object) -> list[Scope]:
    """The scopes asked for, each once: a non-empty list of ``read`` and ``convert``."""
    names = ", ".join(repr(s.value) for s in Scope)
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"field 'scopes' must be a non-empty list of {names}")
    scopes: list[Scope] = []
    for item in value:
        if not isinstance(item, str) or item not in {s.value for s in Scope}:
            raise InvalidInput(f"unknown scope {item!r}: the scopes are {names}")
        if item not in scopes:
            scopes.append(Scope(item))
    return scopes


def create(
    deps: Dependencies, user_id: int, name: str, scopes: Sequence[Scope]
) -> tuple[ApiKey, str]:
    """A new key of the user's and the key itself (shown this once, never stored). The
    name is trimmed and the scopes kept once each, checked as the request's are."""
    key_name = checked_key_name(name)
    chosen = [scope.value for scope in checked_scopes(list(scopes))]
    key = new_key()
    record = ApiKey(
        user_id=user_id,
        name=key_name,
        prefix=key[:PREFIX_CHARS],
        secret_hash=_hash(deps, key),
        scopes=chosen,
        created_at=deps.clock(),
    )
    with deps.uow() as uow:
        if len(uow.api_keys.for_user(user_id)) >= MAX_KEYS_PER_USER:
            raise Conflict(
                f"you have {MAX_KEYS_PER_USER} API keys, the most an account may have: "
                "revoke one you no longer use (DELETE /api/keys/ID)"
            )
        uow.api_keys.add(record)
        uow.commit()
    log.info("user %s made API key %s (%s) with scopes %s", user_id, record.id,
             record.prefix, chosen)  # fmt: skip
    return record, key


def list_keys(deps: Dependencies, user_id: int) -> Sequence[ApiKey]:
    with deps.uow(readonly=True) as uow:
        return list(uow.api_keys.for_user(user_id))


def revoke(deps: Dependencies, user_id: int, key_id: int) -> None:
    """Delete the key: refused from the next request on, by every process."""
    with deps.uow() as uow:
        record = uow.api_keys.get(key_id) if valid_id(key_id) else None
        if record is None or record.user_id != user_id:
            raise NotFound("no such API key")
        uow.api_keys.delete(record)
        uow.commit()
    log.info("user %s revoked API key %s (%s)", user_id, key_id, record.prefix)


def authenticate(deps: Dependencies, key: str, client: str = "") -> ApiKey:
    """The stored key ``key`` is; Unauthorized if none (revoked, or never made), counted
    against the client's address as a wrong password is: TooManyRequests after many."""
    guards = [KEY_FROM_ADDRESS.on(client)]
    with deps.uow(readonly=True) as uow:
        throttling.check(deps, uow, guards, "too many invalid API keys from your address")
        found = uow.api_keys.by_hash(_hash(deps, key)) if well_formed(key) else None
    if found is None:
        throttling.record(deps, guards)
        raise Unauthorized(BAD_KEY)
    now = deps.clock()
    if found.use_is_news(now):  # at most one write a minute per key
        assert found.id is not None
        with deps.uow() as uow:
            uow.api_keys.touch(found.id, now, now - LAST_USED_RESOLUTION)
            uow.commit()
        found.last_used_at = now
    return found
