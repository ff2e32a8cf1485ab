"""PubSubPuller on Google's own Pub/Sub emulator: a message whose handler says when
to retry (a busy task) comes back then, neither at once nor minutes later."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from audioconv.adapters.pubsub_pull import PubSubPuller
from audioconv.domain.errors import RetryLater
from audioconv.ports import Message

pytestmark = pytest.mark.slow
PROJECT = "test-project"
ACK_DEADLINE = 10
# Past the ack deadline: the client's lease management must not bring it back sooner.
DEFER = 20


@pytest.fixture
def subscription(pubsub_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh topic with one message published, and its pull subscription's name."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    name = f"defer-{uuid.uuid4().hex[:8]}"
    publisher, subscriber = PublisherClient(), SubscriberClient()
    topic = publisher.topic_path(PROJECT, name)
    try:
        publisher.create_topic(name=topic)
        subscriber.create_subscription(
            name=subscriber.subscription_path(PROJECT, name),
            topic=topic,
            ack_deadline_seconds=ACK_DEADLINE,
        )
        publisher.publish(topic, json.dumps({"taskId": 1}).encode()).result(timeout=30)
        yield name
    finally:
        publisher.stop()
        subscriber.close()


def test_a_deferred_message_comes_back_after_its_delay_not_before(subscription: str) -> None:
    calls: list[float] = []

    def busy_once(message: Message) -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RetryLater("task 1 is busy", after_seconds=DEFER)

    puller = PubSubPuller(PROJECT, max_lease_seconds=600)
    puller.subscribe(subscription, busy_once, 1)
    puller.start()
    try:
        deadline = time.monotonic() + 60 + DEFER
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(ACK_DEADLINE + 2)  # acked the second time: nothing more arrives
    finally:
        puller.shutdown()
    assert len(calls) == 2, calls
    assert DEFER - 1 <= calls[1] - calls[0] <= DEFER + ACK_DEADLINE, calls
