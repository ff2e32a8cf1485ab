"""The two messages of the pipeline: small JSON with ids and revision, never bytes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from audioconv.domain.model import Task, valid_id
from audioconv.services.dependencies import Dependencies

log = logging.getLogger(__name__)


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


def _publish(deps: Dependencies, topic: str, task: Task) -> str:
    assert task.id is not None
    data = {"taskId": task.id, "revision": task.revision, "format": task.output_format}
    attributes = {"taskId": str(task.id), "revision": str(task.revision)}
    return deps.bus.publish(topic, data, attributes)


def request_conversion(deps: Dependencies, task: Task) -> None:
    """Ask a worker to convert this revision of the task."""
    _publish(deps, deps.settings.conversion_topic, task)


def announce_finished(deps: Dependencies, task: Task) -> None:
    """Tell the notifier that this revision of the task is done (processed or failed)."""
    _publish(deps, deps.settings.finished_topic, task)


def publish_or_leave_to_sweep(deps: Dependencies, task: Task, announce: bool = False) -> None:
    """Publish after commit; if the bus fails, the task stays due and the sweep republishes it."""
    try:
        (announce_finished if announce else request_conversion)(deps, task)
    except Exception:
        log.exception("publish for task %s failed; the sweep will republish it", task.id)
