"""CloudEvent handlers for the worker and the notifier.

They accept the CloudEvent that functions-framework makes of a Pub/Sub push
(``google.cloud.pubsub.topic.v1.messagePublished``); the in-process bus
delivers the same events. Returning acknowledges; raising asks for redelivery.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

import flask
from cloudevents.http import CloudEvent

from audioconv import bootstrap
from audioconv.domain.errors import Unauthorized
from audioconv.entrypoints import push_auth
from audioconv.entrypoints.web import task_json
from audioconv.services import conversion, direct_upload, notification, webhooks
from audioconv.services.messages import TaskRef

log = logging.getLogger(__name__)


def pubsub_message(event: CloudEvent) -> tuple[dict[str, Any], dict[str, str]]:
    """Data (decoded JSON) and attributes of the Pub/Sub message inside ``event``."""
    try:
        message = event.data["message"]
        data = json.loads(base64.b64decode(message.get("data") or b"e30=", validate=True))
        attributes = dict(message.get("attributes") or {})
    except (TypeError, KeyError, ValueError, binascii.Error) as exc:
        raise ValueError("not a Pub/Sub message event") from exc
    if not isinstance(data, dict):
        raise ValueError("Pub/Sub message data is not a JSON object")
    return data, attributes


def _message(event: CloudEvent) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The decoded Pub/Sub message, or None (logged) for a malformed one.

    Redelivering a malformed message can never help: it is acknowledged.
    """
    try:
        return pubsub_message(event)
    except ValueError:
        log.error("malformed event %s dropped", event.get("id"), exc_info=True)
        return None


def _task_ref(event: CloudEvent, data: dict[str, Any]) -> TaskRef | None:
    try:
        return TaskRef.from_message(data)
    except ValueError:
        log.error("malformed event %s dropped", event.get("id"), exc_info=True)
        return None


def handle_conversion(event: CloudEvent) -> None:
    """A conversion request, or a finalized direct upload: convert, or make the task."""
    message = _message(event)
    if message is None:
        return
    data, attributes = message
    if "eventType" in attributes:  # a Cloud Storage notification
        if attributes["eventType"] == "OBJECT_FINALIZE":
            direct_upload.finalize(bootstrap.deps(), data)
        return
    ref = _task_ref(event, data)
    if ref is not None:
        conversion.convert(bootstrap.deps(), ref)


def authorize_push() -> None:
    """Before anything else, check the push's OIDC token (when push auth is on).

    Call it from a function serving Pub/Sub push; it answers 401 with a JSON
    message when the token is missing or wrong.
    """
    try:
        push_auth.verify_push(flask.request.headers.get("Authorization"), bootstrap.deps().settings)
    except Unauthorized as exc:
        flask.abort(flask.make_response(flask.jsonify(message=exc.message), exc.status))


def handle_finished(event: CloudEvent) -> None:
    """A finished conversion: notify the task's owner. The notify service's one
    function also gets the webhook attempts (their own topic): handed on."""
    message = _message(event)
    if message is not None and webhooks.ATTEMPT in message[1]:
        _deliver(event, message)
        return
    ref = None if message is None else _task_ref(event, message[0])
    if ref is not None:
        notification.notify(bootstrap.deps(), ref)


def handle_webhook(event: CloudEvent) -> None:
    """One attempt at a webhook delivery (raises to be redelivered: not due yet)."""
    message = _message(event)
    if message is not None:
        _deliver(event, message)


def _deliver(event: CloudEvent, message: tuple[dict[str, Any], dict[str, str]]) -> None:
    try:
        delivery = webhooks.Delivery.from_message(*message)
    except ValueError:
        log.error("malformed event %s dropped", event.get("id"), exc_info=True)
        return
    webhooks.deliver(bootstrap.deps(), delivery, task_json)
