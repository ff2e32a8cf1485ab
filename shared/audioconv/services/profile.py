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
from audioconv.services.tasks import has_control_characters

log = logging.getLogger(__name__)


def checked_url(deps: Dependencies, value: object) -> str | None:
    """A webhook URL from a request: None for none (null or empty), else the URL if it
    may be called (scheme, and the SSRF guard on its addresses); InvalidInput if not."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput("webhookUrl must be a URL (text), or null for none")
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


def update_profile(deps: Dependencies, user_id: int, changes: dict[str, Any]) -> User:
    """Set ``webhookUrl`` (None clears it), ``emailNotifications`` (None: as it is) and
    ``email`` (a new address is unverified: a link to verify it is mailed there), where
    given."""
    unknown = sorted(set(changes) - {"webhookUrl", "emailNotifications", "email"})
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(unknown)}: only webhookUrl, "
                           "emailNotifications and email can be changed")  # fmt: skip
    mail = changes.get("emailNotifications")  # null: unchanged
    if mail is not None and not isinstance(mail, bool):
        raise InvalidInput("emailNotifications must be true or false")
    url = checked_url(deps, changes["webhookUrl"]) if "webhookUrl" in changes else None
    address = _address(changes.get("email"))
    with deps.uow() as uow:
        user = _user(uow, user_id, for_update=True)
        moved = address is not None and address != user.email
        if address is not None and moved:
            if uow.users.by_email(address):
                raise Conflict("email is already registered")
            verification.check_allowance(deps, uow, user_id)  # each new address is mailed
            user.email, user.email_verified_at = address, None
        if "webhookUrl" in changes:
            user.webhook_url = url
        if isinstance(mail, bool):
            user.email_notifications = mail
        uow.commit()
    if moved:
        verification.ask(deps, user_id)
    return user


def _address(value: object) -> str | None:
    """A new e-mail address from a request (None: unchanged), stored normalised."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidInput("email must be an e-mail address")
    if has_control_characters(value):
        raise InvalidInput("field 'email' must not contain control characters")
    return normalise_email(value)


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
