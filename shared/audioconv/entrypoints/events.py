"""The message handlers of the worker and the notifier.

Each takes the process's ``Dependencies`` and one decoded ``Message``, whatever
brought it (a Pub/Sub push, the in-process bus, the database queue);
``bootstrap.subscriptions`` binds them to their dependencies and topics.
Returning acknowledges; raising asks for redelivery. A malformed message is
logged and acknowledged: redelivering it can never help.
"""

from __future__ import annotations

import logging

from audioconv.ports import Message
from audioconv.services import conversion, direct_upload, notification
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef, UploadArrived

log = logging.getLogger(__name__)


def _task_ref(message: Message) -> TaskRef | None:
    try:
        return TaskRef.from_message(message.data)
    except ValueError:
        log.error("malformed message %s dropped", message.id, exc_info=True)
        return None


def handle_conversion(deps: Dependencies, message: Message) -> None:
    """A conversion request: convert that revision of the task."""
    ref = _task_ref(message)
    if ref is not None:
        conversion.convert(deps, ref)


def handle_upload(deps: Dependencies, message: Message) -> None:
    """A direct upload's file arrived: make its task."""
    try:
        arrived = UploadArrived.from_message(message.data)
    except ValueError:
        log.error("malformed message %s dropped", message.id, exc_info=True)
        return
    direct_upload.finalize(deps, arrived.key)


def handle_finished(deps: Dependencies, message: Message) -> None:
    """A finished conversion: notify the task's owner."""
    ref = _task_ref(message)
    if ref is not None:
        notification.notify(deps, ref)
