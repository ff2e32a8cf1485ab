"""The Pub/Sub push edge of the worker and notifier functions.

functions-framework turns a push into a CloudEvent
(``google.cloud.pubsub.topic.v1.messagePublished``) whose data is the push
envelope, ``{"message": {"data": <base64 JSON>, "attributes": ..., "messageId": ...}}``.
Here, and only here, that envelope is checked (the OIDC token) and decoded into
the ``Message`` every handler takes; a Cloud Storage notification of a direct
upload becomes the ``UploadArrived`` message the embedded mode publishes.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging

import flask
from cloudevents.http import CloudEvent

from audioconv.config import Settings
from audioconv.domain.errors import Unauthorized
from audioconv.entrypoints import push_auth
from audioconv.ports import Message, MessageHandler
from audioconv.services.messages import UploadArrived

log = logging.getLogger(__name__)

# The attribute that marks a Cloud Storage notification (``OBJECT_FINALIZE``, ...).
STORAGE_EVENT = "eventType"


def decode(event: CloudEvent) -> Message:
    """The Pub/Sub message inside ``event``; ValueError if it is not one (or its data is
    not a JSON object)."""
    try:
        message = event.data["message"]
        data = json.loads(base64.b64decode(message.get("data") or b"e30=", validate=True))
        attributes = dict(message.get("attributes") or {})
        message_id = str(message.get("messageId") or event["id"])
    except (TypeError, KeyError, AttributeError, ValueError, binascii.Error) as exc:
        raise ValueError("not a Pub/Sub message event") from exc
    if not isinstance(data, dict):
        raise ValueError("Pub/Sub message data is not a JSON object")
    return Message(message_id, data, attributes)


def authorize(settings: Settings) -> None:
    """Check the push's OIDC token (when push auth is on); 401 with a JSON message when
    it is missing or wrong."""
    try:
        push_auth.verify_push(flask.request.headers.get("Authorization"), settings)
    except Unauthorized as exc:
        flask.abort(flask.make_response(flask.jsonify(message=exc.message), 401))


def uploaded_object(message: Message) -> Message | None:
    """The ``UploadArrived`` message a Cloud Storage ``OBJECT_FINALIZE`` notification
    stands for; None for the bucket's other notifications."""
    if message.attributes.get(STORAGE_EVENT) != "OBJECT_FINALIZE":
        return None
    return Message(message.id, UploadArrived(str(message.data.get("name", ""))).as_message(), {})


def deliver(
    event: CloudEvent,
    settings: Settings,
    handler: MessageHandler,
    uploads: MessageHandler | None = None,
) -> None:
    """Authorize the push, decode it and hand it to ``handler``; a Cloud Storage
    notification goes to ``uploads`` instead (dropped where there is none).

    A malformed message is logged and acknowledged; whatever the handler raises makes
    Pub/Sub redeliver it.
    """
    authorize(settings)
    try:
        message = decode(event)
    except ValueError:
        log.error("malformed push %s dropped", event.get("id"), exc_info=True)
        return
    if STORAGE_EVENT not in message.attributes:
        handler(message)
    elif uploads is not None and (arrived := uploaded_object(message)) is not None:
        uploads(arrived)
