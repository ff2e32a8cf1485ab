"""Pub/Sub streaming pull: hand each message, decoded, to its handler.

The cloud worker's consumer (the embedded mode's is adapters/sql_queue.py, same
shape). Long conversions cannot live on push: App Engine cuts a request at 10
minutes and a push ack deadline is at most 600 s. Here the client library holds
each message under lease, extending its ack deadline for as long as the handler
runs (up to ``max_lease_seconds``); the handler's return acks it, an exception
nacks it (Pub/Sub redelivers it with the subscription's retry policy), a
``RetryLater`` that says when a retry can succeed (a busy task's lease end) sets
its ack deadline to then and lets go of it (``defer``), and a
worker that dies simply stops extending, so the message comes back once its ack
deadline passes. ``slots`` bounds the messages in hand (FlowControl) and the
threads running them, so an instance never takes more work than it has slots.
The task's claim and lease in the database stay the fence: a redelivered copy of
a message whose conversion is still running finds the task busy.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from google.cloud.pubsub_v1 import SubscriberClient
from google.cloud.pubsub_v1.subscriber.futures import StreamingPullFuture
from google.cloud.pubsub_v1.subscriber.message import Message as Received
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler
from google.cloud.pubsub_v1.types import FlowControl

from audioconv.domain.errors import retry_delay
from audioconv.ports import Message, MessageHandler

log = logging.getLogger(__name__)
# The ack deadlines Pub/Sub allows a deferred message (below 10 s is advised against).
MIN_DEFER_SECONDS, MAX_DEFER_SECONDS = 10, 600


def decode(received: Received) -> Message:
    """The ``Message`` a handler takes; ValueError if the data is not a JSON object."""
    try:
        data = json.loads(received.data or b"{}")
    except ValueError as exc:
        raise ValueError("Pub/Sub message data is not JSON") from exc
    if not isinstance(data, dict):
        raise ValueError("Pub/Sub message data is not a JSON object")
    return Message(received.message_id, data, dict(received.attributes))


def defer_seconds(after_seconds: float, delivery_attempt: int | None) -> int:
    """The ack deadline for a message deferred ``after_seconds``: at least the
    subscription's retry back-off would give (MIN_DEFER_SECONDS doubling with each
    delivery, as Pub/Sub's exponential back-off does), within what Pub/Sub allows.

    Each deferral is a delivery, and the conversion subscriptions dead-letter after
    a few: a duplicate request for a long conversion (its lease renewed every
    minute) would otherwise reach the dead-letter topic within ten minutes instead
    of the ~40 its nacks would take."""
    backoff: float = MIN_DEFER_SECONDS * 2 ** max(0, (delivery_attempt or 1) - 1)
    return round(min(max(after_seconds, backoff), MAX_DEFER_SECONDS))


def defer(received: Received, after_seconds: float) -> None:
    """Have Pub/Sub redeliver ``received`` in about ``after_seconds`` (``defer_seconds``):
    its ack deadline is set to then and the client stops extending it. A nack would
    bring it back per the subscription's retry policy instead, or at once on the
    emulator."""
    seconds = defer_seconds(after_seconds, received.delivery_attempt)
    log.info("message %s deferred %d s", received.message_id, seconds)
    received.modify_ack_deadline(seconds)
    received.drop()


class PubSubPuller:
    """Streaming pull on some subscriptions of ``project``, each with its handler."""

    def __init__(
        self,
        project: str,
        max_lease_seconds: int,
        subscriber: SubscriberClient | None = None,
    ) -> None:
        if not project:
            raise ValueError("PubSubPuller needs a Google Cloud project id")
        self.project = project
        self.max_lease_seconds = max_lease_seconds
        self.subscriber = subscriber or SubscriberClient()
        self._wanted: list[tuple[str, MessageHandler, int]] = []
        self._futures: list[StreamingPullFuture] = []

    def subscribe(self, subscription: str, handler: MessageHandler, workers: int) -> None:
        """Deliver ``subscription``'s messages to ``handler``, at most ``workers`` at once."""
        self._wanted.append((subscription, handler, workers))

    def start(self) -> None:
        for name, handler, slots in self._wanted:
            path = self.subscriber.subscription_path(self.project, name)
            flow = FlowControl(max_messages=slots, max_lease_duration=self.max_lease_seconds)
            pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix=f"pull-{name}")
            future = self.subscriber.subscribe(
                path,
                callback=self._callback(path, handler),
                flow_control=flow,
                scheduler=ThreadScheduler(pool),
            )
            self._futures.append(future)
            log.info(
                "pulling %s, %d at a time, lease up to %d s", path, slots, flow.max_lease_duration
            )

    @staticmethod
    def _callback(path: str, handler: MessageHandler) -> Callable[[Received], None]:
        def deliver(received: Received) -> None:
            try:
                message = decode(received)
            except ValueError:  # redelivering it can never help
                log.error("malformed message %s on %s dropped", received.message_id, path,
                          exc_info=True)  # fmt: skip
                received.ack()
                return
            try:
                handler(message)
            except Exception as exc:
                delay = retry_delay(exc)
                if delay is not None:
                    defer(received, delay)
                    return
                log.warning("message %s failed; nacked for redelivery", received.message_id,
                            exc_info=True)  # fmt: skip
                received.nack()
            else:
                received.ack()

        return deliver

    def running(self) -> bool:
        """Whether every stream is still open (the health checks' answer)."""
        return bool(self._futures) and not any(f.done() for f in self._futures)

    def shutdown(self, wait: bool = True) -> None:
        """Stop pulling; messages in hand but not started are nacked by the library,
        those running are left to finish (``wait``) or to their ack deadline."""
        for future in self._futures:
            future.cancel()
        if wait:
            for future in self._futures:
                # A cancelled stream reports its cancellation as an error: expected.
                with contextlib.suppress(Exception):
                    future.result(timeout=30)
        self.subscriber.close()
