"""The sweep: republish every task the database says is still due.

Messages can be lost (a crash between commit and publish, an in-process queue
that died with its process); the database cannot. Running the sweep is always
safe, because every handler ignores repeated and stale messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from audioconv.domain.model import TaskStatus, as_utc
from audioconv.services.deps import Deps
from audioconv.services.messages import publish_or_leave_to_sweep

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepResult:
    conversions: int
    notifications: int


def sweep(deps: Deps, grace_seconds: float = 60, reclaim: bool = False) -> SweepResult:
    """Republish due conversions and unsent notifications older than ``grace_seconds``.

    ``reclaim`` frees tasks that a dead process left ``processing`` (the embedded
    mode at start-up, when no other process can hold them).
    """
    now = deps.clock()
    cutoff = now - timedelta(seconds=grace_seconds)
    with deps.uow() as uow:
        due = []
        for task in uow.tasks.unfinished():
            if reclaim and task.status is TaskStatus.PROCESSING:
                task.release(now)
            if task.is_due(now) and (reclaim or as_utc(task.updated_at) <= cutoff):
                due.append(task)
        unnotified = [
            t for t in uow.tasks.unnotified() if reclaim or as_utc(t.updated_at) <= cutoff
        ]
        uow.commit()
    for task in due:
        publish_or_leave_to_sweep(deps, task)
    for task in unnotified:
        publish_or_leave_to_sweep(deps, task, announce=True)
    if due or unnotified:
        log.info("sweep republished %d conversions, %d notifications", len(due), len(unnotified))
    return SweepResult(len(due), len(unnotified))
