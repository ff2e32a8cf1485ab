"""How many mails one address gets: at most ``mail_per_address_per_hour``, of every kind
(verification links and completion mails), counted in the database so that every
process and instance shares the count. The last mail allowed says so."""

from __future__ import annotations

import logging

from audioconv.domain.account import address_key, mails_to_address
from audioconv.services import throttling
from audioconv.services.dependencies import Dependencies

log = logging.getLogger(__name__)


def take(deps: Dependencies, address: str) -> str | None:
    """Count one mail to ``address``: None when none may go now (logged), else what
    the mail's body ends with (a note on the last one allowed this hour)."""
    per_hour = deps.settings.mail_per_address_per_hour
    count = throttling.admit(deps, mails_to_address(per_hour).on(address_key(address)))
    if count is None:
        log.info("mail held back: %d mails went to that address within the hour", per_hour)
        return None
    if count < per_hour:
        return ""
    return (
        f"\n--\nThis is the last of {per_hour} mails this address may get within an hour: "
        "no more will be sent to it for the next hour (your files still convert; see them "
        "on the page or with `audioconv tasks`).\n"
    )
