"""What goes on the topics: small JSON with ids, never file contents.

- a conversion request, a report request and a finished announcement: a
  ``TaskRef``, ``{"taskId": 12, "revision": 2}``, on the conversion, report or
  finished topic;
- a direct upload whose file arrived in storage: an ``UploadArrived``,
  ``{"key": "direct-uploads/..."}``, on the uploads topic (in the cloud the
  bucket's own notification, which the push edge turns into one).

Everything is published after its commit; if the bus fails, the database still
says what is due and the sweep publishes it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from audioconv.domain.model import Task, valid_id
from audioconv.services.dependencies import Dependencies

log = logging.getLogger(__name__)
# The attribute that marks a report request: a push subscription of the report topic
# may push to the conversion worker's function, which tells the two apart by it.
REPORT = "report"
# The attribute naming the task's owner (fair share: adapters/sql_queue.GROUP_ATTRIBUTE,
# entrypoints/pull_worker.py).
USER = "userId"


@dataclass(frozen=True)
class TaskRef:
    """Which task, at which revision, a message is about."""

    task_id: int
    revision: int

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> TaskRef:
        """Parse message data; ValueError if it is not ours."""
        try:
            ref = cls(int(data["taskId"]), int(data["revision"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a task message: {data!r:.200}") from exc
        if not (valid_id(ref.task_id) and valid_id(ref.revision)):
            raise ValueError(f"task message out of range: {data!r:.200}")
        return ref

    @classmethod
    def of(cls, task: Task) -> TaskRef:
        assert task.id is not None
        return cls(task.id, task.revision)

    def as_message(self) -> dict[str, Any]:
        return {"taskId": self.task_id, "revision": self.revision}


@dataclass(frozen=True)
class UploadArrived:
    """A direct upload's file is stored under ``key``: make its task."""

    key: str

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> UploadArrived:
        """Parse message data; ValueError if it is not ours."""
        key = data.get("key")
        if not isinstance(key, str) or not key:
            raise ValueError(f"not an upload message: {data!r:.200}")
        return cls(key)

    def as_message(self) -> dict[str, Any]:
        return {"key": self.key}


def _publish_task(
    deps: Dependencies, topic: str, task: Task, extra: dict[str, str] | None = None
) -> None:
    ref = TaskRef.of(task)
    attributes = {
        "taskId": str(ref.task_id), "revision": str(ref.revision),
        # Its owner: the conversion slots are shared fairly between users by it.
        USER: str(task.user_id), **(extra or {}),
    }  # fmt: skip
    try:
        deps.bus.publish(topic, ref.as_message(), attributes)
    except Exception:
        log.exception("publish for task %s failed; the sweep will republish it", task.id)


def request_conversion(deps: Dependencies, task: Task) -> None:
    """Ask a worker to convert this revision of the task (after the commit)."""
    _publish_task(deps, deps.settings.conversion_topic, task)


def request_report(deps: Dependencies, task: Task) -> None:
    """Ask a worker to run the report pass of this revision's output (after the commit)."""
    _publish_task(deps, deps.settings.report_topic, task, {REPORT: "true"})


def announce_finished(deps: Dependencies, task: Task) -> None:
    """Tell the notifier this revision of the task is done, processed or failed."""
    _publish_task(deps, deps.settings.finished_topic, task)


def announce_upload(deps: Dependencies, key: str) -> None:
    """Say that a direct upload's file is stored (the embedded mode: Cloud Storage
    says it itself). If the bus fails, the next start-up reclaim finds the file."""
    try:
        deps.bus.publish(deps.settings.direct_uploads_topic, UploadArrived(key).as_message(), {})
    except Exception:
        log.exception("announcing %s failed; the start-up reclaim will find it", key)
