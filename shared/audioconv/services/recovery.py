"""The sweep: republish every task (conversion, report pass, notification, webhook
attempt) the database says is still due.

Messages can be lost (a crash between commit and publish, an in-process queue
that died with its process); the database cannot. Running the sweep is always
safe, because every handler ignores repeated and stale messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from audioconv.domain.model import TaskStatus, as_utc
from audioconv.services import (
    album_gain,
    direct_uploads,
    expiry,
    notification,
    throttling,
    webhook_delivery,
)
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import announce_finished, request_conversion, request_report

log = logging.getLogger(__name__)
# Pub/Sub's longest retry backoff: a webhook attempt nacked because it came early
# may come back this long after its time; only then is its message presumed lost.
WEBHOOK_GRACE_SECONDS = 600


@dataclass(frozen=True)
class SweepResult:
    conversions: int
    notifications: int
    reports: int = 0
    expired: int = 0

    def as_json(self) -> dict[str, int]:
        """What the sweep route and command answer."""
        return {
            "conversions": self.conversions,
            "notifications": self.notifications,
            "reports": self.reports,
            "expired": self.expired,
        }


def sweep(deps: Dependencies, grace_seconds: float = 60, reclaim: bool = False) -> SweepResult:
    """Republish due conversions, report passes and unsent notifications older than
    ``grace_seconds``.

    ``reclaim`` frees tasks that a dead process left ``processing`` (the embedded
    mode at start-up, when no other process can hold them).
    """
    now = deps.clock()
    cutoff = now - timedelta(seconds=grace_seconds)
    with deps.uow() as uow:
        due = []
        for task in uow.tasks.unfinished():
            if reclaim and task.status is TaskStatus.PROCESSING:
                task.interrupted(now)
            if task.is_due(now) and (reclaim or as_utc(task.updated_at) <= cutoff):
                due.append(task)
        # A task told of lately waits for its window: then its latest revision is told.
        told = notification.window(deps)
        unnotified = [
            t for t in uow.tasks.unnotified()
            if (reclaim or as_utc(t.updated_at) <= cutoff) and t.may_notify(now, told)
        ]  # fmt: skip
        reports = [t for t in uow.tasks.reports_due() if reclaim or as_utc(t.updated_at) <= cutoff]
        # A webhook attempt may wait in Pub/Sub's retry backoff that long past its time.
        hook_grace = max(grace_seconds, WEBHOOK_GRACE_SECONDS)
        hooks = uow.tasks.webhooks_due(now - timedelta(seconds=hook_grace))
        expired_tokens = uow.tokens.expire(now)  # their JWTs are refused anyway
        uow.commit()
    if reclaim:
        _finalize_unannounced_uploads(deps)
    try:  # log-in counts nobody needs any more (unknown usernames' among them)
        throttling.expire(deps)
    except Exception:
        log.exception("expiring stale throttle counts failed; the next sweep will")
    expired = 0
    try:  # tasks past the retention (AUDIOCONV_RETENTION_HOURS), with their files
        expired = expiry.expire_tasks(deps)
    except Exception:
        log.exception("deleting expired tasks failed; the next sweep will")
    for task in due:
        request_conversion(deps, task)
    for task in unnotified:
        announce_finished(deps, task)
    for task in reports:
        request_report(deps, task)
    for task in hooks:
        try:
            webhook_delivery.republish(deps, task)
        except Exception:
            log.exception("republishing task %s's webhook failed; the next sweep will", task.id)
    album_gain.settle_due(deps)  # albums whose last worker died before their tags
    if expired_tokens:
        log.info("sweep forgot %d expired API tokens", expired_tokens)
    if due or unnotified or reports or hooks:
        log.info("sweep republished %d conversions, %d notifications, %d report passes, "
                 "%d webhook attempts", len(due), len(unnotified), len(reports),
                 len(hooks))  # fmt: skip
    return SweepResult(len(due), len(unnotified), len(reports), expired)


def release_claims(deps: Dependencies, claimant: str) -> int:
    """Give back every task a claim of ``claimant`` holds (a worker process that died
    while the others run on) and ask for its conversion again; returns how many.

    Only the dead process's tasks: the claim token names its claimant, so a live
    process's claims are never touched. The attempt counts (unlike the start-up
    reclaim's): a process that died alone may have died of its task.
    """
    now = deps.clock()
    with deps.uow() as uow:
        held = list(uow.tasks.claimed_by(claimant))
        for task in held:
            task.release(now)
        uow.commit()
    for task in held:
        request_conversion(deps, task)
    if held:
        log.info("released %d tasks of the dead worker process %s", len(held), claimant)
    return len(held)


def _finalize_unannounced_uploads(deps: Dependencies) -> None:
    """Direct uploads stored but never made into tasks (the process died before its
    finalize event was handled): handle them now, as the event would have."""
    with deps.uow() as uow:
        known = uow.tasks.stored_keys()
    for key in deps.blobs.keys(direct_uploads.PREFIX):
        if key not in known:
            direct_uploads.finalize(deps, key)


def collect_garbage(deps: Dependencies) -> int:
    """Delete stored files no task refers to; returns how many.

    A crash can leave them: between storing an upload and recording its task, between
    storing an output and recording it, or in the middle of a write (temporary files).
    Only safe while nothing else writes (the embedded server at start-up, holding the
    data folder's lock, before it serves): a file being uploaded has no task yet.
    Direct uploads waiting for their task are kept (the start-up sweep handles them).
    """
    with deps.uow() as uow:
        known = uow.tasks.stored_keys()
    removed = 0
    for key in list(deps.blobs.keys("")):
        unfinished_write = key.rpartition("/")[2].startswith(".part-")
        waiting = key.startswith(direct_uploads.PREFIX) and not unfinished_write
        if key not in known and not waiting:
            deps.blobs.delete(key)
            removed += 1
    if removed:
        log.info("removed %d stored files no task refers to", removed)
    return removed
