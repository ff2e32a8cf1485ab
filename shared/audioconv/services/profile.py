"""The user's profile: e-mail address and whether finished tasks are mailed, the webhook
URL (``checked_url`` also checks a task's own) and the secret that signs its events."""

from __future__ import annotations

import logging
from typing import Any

from audioconv.domain import webhook_events
from audioconv.domain.errors import Conflict, InvalidInput, NotFound
from audioconv.domain.identity import normalise_email
from audioconv.domain.model import User, valid_id
from audioconv.services import verification
from audioconv.services.dependencies import Dependencies

log = logging.getLogger(__name__)


def checked_url(deps: Dependencies, value: str | None) -> str | None:
    """A webhook URL a user gives: None for none (None or empty), else the URL if it may
    be called (scheme, and the SSRF guard on its addresses); InvalidInput if not."""
    if not value:
        return None
    try:
        webhook_events.check_url_syntax(value, deps.settings.resolved_webhook_allow_http)
        deps.webhooks.check(value)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    return value


def _user(uow: Any, user_id: int, for_update: bool = False) -> User:
    user = uow.users.get(user_id, for_update=for_update) if valid_id(user_id) else None
    if user is None:
        raise NotFound("no such user")
    return user  # type: ignore[no-any-return]


def profile(deps: Dependencies, user_id: int) -> User:
    with deps.uow(readonly=True) as uow:
        return _user(uow, user_id)


# update_profile's webhook_url when the request does not change it.
UNCHANGED = "unchanged"


def update_profile(
    deps: Dependencies,
    user_id: int,
    *,
    webhook_url: str | None = UNCHANGED,
    email_notifications: bool | None = None,
    email: str | None = None,
) -> User:
    """Set the webhook URL (None or empty clears it; UNCHANGED: as it is), whether
    finished tasks are mailed (None: as it is) and the address (None: as it is; a new
    one is unverified: a link to verify it is mailed there)."""
    url = checked_url(deps, webhook_url) if webhook_url is not UNCHANGED else None
    address = normalise_email(email) if email is not None else None
    with deps.uow() as uow:
        user = _user(uow, user_id, for_update=True)
        moved = address is not None and address != user.email
        if address is not None and moved:
            if uow.users.by_email(address):
                raise Conflict("email is already registered")
            verification.check_allowance(deps, uow, user_id)  # each new address is mailed
            user.email, user.email_verified_at = address, None
        if webhook_url is not UNCHANGED:
            user.webhook_url = url
        if email_notifications is not None:
            user.email_notifications = email_notifications
        uow.commit()
    if moved:
        verification.ask(deps, user_id)
    return user


def secret(deps: Dependencies, user_id: int, rotate: bool = False) -> str:
    """The user's signing secret, made on first use; ``rotate`` replaces it (events
    signed from then on use the new one). Stored sealed (domain/webhook_events.seal_secret);
    one that no longer opens (the service's signing key changed) is replaced."""
    key = deps.settings.signing_key
    if not rotate:
        with deps.uow(readonly=True) as uow:
            stored = _user(uow, user_id).webhook_secret
        current = webhook_events.open_secret(stored, key) if stored else None
        if current:
            return current
    with deps.uow() as uow:
        user = _user(uow, user_id, for_update=True)
        current = (
            webhook_events.open_secret(user.webhook_secret, key) if user.webhook_secret else None
        )
        if rotate or not current:
            if user.webhook_secret and not current:
                log.warning("user %s's webhook secret no longer opens; a new one is made",
                            user_id)  # fmt: skip
            current = webhook_events.new_secret()
            user.webhook_secret = webhook_events.seal_secret(current, key)
            uow.commit()
        return current
