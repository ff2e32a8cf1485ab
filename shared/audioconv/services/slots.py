"""Who holds the conversion slots: what fair share between users (domain/fair_share.py)
reads from the database when the consumer cannot see every waiting request itself
(the Pub/Sub pull worker: Pub/Sub shows it only what it delivered)."""

from __future__ import annotations

from audioconv.services.dependencies import Dependencies


def conversions_by_owner(deps: Dependencies) -> tuple[dict[int, int], set[int]]:
    """Conversions running per user (everywhere), and the users with one waiting."""
    with deps.uow(readonly=True) as uow:
        return uow.tasks.conversions_by_owner()
