"""The message handlers of the worker and the notifier.

Each takes the process's ``Dependencies`` and one decoded ``Message``, whatever
brought it (a Pub/Sub push, the in-process bus, the database queue);
``bootstrap.subscriptions`` binds them to their dependencies and topics.
Returning acknowledges; raising asks for redelivery. A malformed message is
logged and acknowledged: redelivering it can never help.
"""

from __future__ import annotations

import logging

from audioconv import logs
from audioconv.domain.model import valid_id
from audioconv.entrypoints.event_log import logged
from audioconv.entrypoints.views import event_json
from audioconv.ports import Message
from audioconv.services import (
    conversion,
    direct_uploads,
    notification,
    report,
    verification,
    webhook_delivery,
)
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import REPORT, TaskRef, UploadArrived

log = logging.getLogger(__name__)


def _task_ref(message: Message) -> TaskRef | None:
    try:
        ref = TaskRef.from_message(message.data)
    except ValueError:
        log.error("malformed message %s dropped", message.id, exc_info=True)
        return None
    logs.bind(task_id=ref.task_id)
    return ref


@logged
def handle_conversion(deps: Dependencies, message: Message) -> None:
    """A conversion request: convert that revision of the task. A report request pushed
    to the worker function (its own topic, pushed to the same service) is handed on."""
    if REPORT in message.attributes:
        handle_report(deps, message)
        return
    ref = _task_ref(message)
    if ref is not None:
        conversion.convert(deps, ref)


@logged
def handle_report(deps: Dependencies, message: Message) -> None:
    """A report request: run the report pass of that revision's output."""
    ref = _task_ref(message)
    if ref is not None:
        report.run_report(deps, ref)


@logged
def handle_upload(deps: Dependencies, message: Message) -> None:
    """A direct upload's file arrived: make its task."""
    try:
        arrived = UploadArrived.from_message(message.data)
    except ValueError:
        log.error("malformed message %s dropped", message.id, exc_info=True)
        return
    direct_uploads.finalize(deps, arrived.key)


@logged
def handle_finished(deps: Dependencies, message: Message) -> None:
    """A finished conversion: notify the task's owner. The notify function serves the
    webhook attempts too (their own topic, pushed to the same service): handed on."""
    if webhook_delivery.ATTEMPT in message.attributes:
        handle_webhook(deps, message)
        return
    if verification.ACCOUNT_MAIL in message.attributes:
        handle_account_mail(deps, message)
        return
    ref = _task_ref(message)
    if ref is not None:
        notification.notify(deps, ref)


def handle_account_mail(deps: Dependencies, message: Message) -> None:
    """A mail about the account itself (its address's verification link)."""
    user_id = message.data.get("userId")
    kind = message.attributes.get(verification.ACCOUNT_MAIL)
    if kind != verification.VERIFY or type(user_id) is not int or not valid_id(user_id):
        log.error("malformed account mail message %s dropped", message.id)
        return
    logs.bind(user_id=user_id)
    verification.send(deps, user_id)


def handle_webhook(deps: Dependencies, message: Message) -> None:
    """One webhook delivery attempt (raises to be redelivered: not due yet)."""
    try:
        delivery = webhook_delivery.Delivery.from_message(message.data, message.attributes)
    except ValueError:
        log.error("malformed message %s dropped", message.id, exc_info=True)
        return
    webhook_delivery.deliver(deps, delivery, event_json)
