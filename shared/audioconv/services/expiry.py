"""Expiry: tasks kept AUDIOCONV_RETENTION_HOURS, then deleted with all their files by
the sweep (the embedded supervisor's, and the cloud's sweep job), so nothing but the
sweep deletes a file a task still points at (the bucket has no age rule).

A task's ``expires_at`` is set when it is made. When the retention is turned on,
the sweep gives the tasks made before a time that long after they were made; when it
is turned off, it takes every task's time away (they are kept again).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from audioconv.domain.model import as_utc
from audioconv.services.dependencies import Dependencies
from audioconv.services.tasks import stored_files

log = logging.getLogger(__name__)
# Tasks handled per transaction.
BATCH = 200


def expire_tasks(deps: Dependencies) -> int:
    """Delete every task whose time has come, and its files; how many went.

    The rows go first, in one transaction per batch; then their files (a crash in
    between leaves only files no task points at: the embedded start-up removes them).
    Work running on a task that went finds it gone and drops what it made.
    """
    hours = deps.settings.retention_hours
    if hours <= 0:
        with deps.uow() as uow:
            cleared = uow.tasks.clear_expiry()
            uow.commit()
        if cleared:
            log.info("retention is off: %d tasks will be kept", cleared)
        return 0
    _give_expiry(deps, timedelta(hours=hours))
    removed = 0
    while True:
        now = deps.clock()
        with deps.uow() as uow:
            found = list(uow.tasks.expired(now, BATCH))
            keys = {key for task in found for key in stored_files(task)}
            for task in found:
                uow.tasks.delete(task)
            uow.commit()
        for key in keys:
            deps.blobs.delete(key)
        removed += len(found)
        if len(found) < BATCH:
            break
    if removed:
        log.info("deleted %d tasks older than the retention of %g hours, with their files",
                 removed, hours)  # fmt: skip
    return removed


def _give_expiry(deps: Dependencies, retention: timedelta) -> None:
    """Give the tasks that have none (made while the retention was off) their time."""
    while True:
        with deps.uow() as uow:
            found = list(uow.tasks.without_expiry(BATCH))
            for task in found:
                task.expires(as_utc(task.created_at) + retention)
            uow.commit()
        if len(found) < BATCH:
            return
