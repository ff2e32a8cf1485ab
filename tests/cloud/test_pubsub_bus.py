"""PubSubBus against pstest: what it publishes is what a subscriber pulls."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from google.api_core.exceptions import NotFound
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from audioconv.adapters.pubsub_bus import PubSubBus

PROJECT = "test-project"


@pytest.fixture
def publisher(pubsub_host: str) -> Iterator[PublisherClient]:
    client = PublisherClient()
    yield client
    client.stop()


@pytest.fixture
def subscriber(pubsub_host: str) -> Iterator[SubscriberClient]:
    client = SubscriberClient()
    yield client
    client.close()


@pytest.fixture
def topic(publisher: PublisherClient, subscriber: SubscriberClient) -> tuple[str, str]:
    """A fresh topic (short name) and a pull subscription on it."""
    name = f"conversions-{uuid.uuid4().hex[:8]}"
    topic_path = publisher.topic_path(PROJECT, name)
    publisher.create_topic(name=topic_path)
    sub_path = subscriber.subscription_path(PROJECT, f"{name}-sub")
    subscriber.create_subscription(name=sub_path, topic=topic_path, ack_deadline_seconds=10)
    return name, sub_path


def test_publish_then_pull(
    publisher: PublisherClient, subscriber: SubscriberClient, topic: tuple[str, str]
) -> None:
    name, sub_path = topic
    bus = PubSubBus(PROJECT, publisher)
    data = {"taskId": 42, "revision": 3, "target": "ogg", "note": "naïve ✓"}

    message_id = bus.publish(name, data, {"taskId": "42", "revision": "3"})

    response = subscriber.pull(subscription=sub_path, max_messages=10, timeout=10)
    assert len(response.received_messages) == 1
    received = response.received_messages[0]
    assert received.message.message_id == message_id
    assert json.loads(received.message.data) == data
    assert dict(received.message.attributes) == {"taskId": "42", "revision": "3"}
    subscriber.acknowledge(subscription=sub_path, ack_ids=[received.ack_id])


def test_each_publish_is_a_separate_message(
    publisher: PublisherClient, subscriber: SubscriberClient, topic: tuple[str, str]
) -> None:
    name, sub_path = topic
    bus = PubSubBus(PROJECT, publisher)
    ids = [bus.publish(name, {"n": n}, {}) for n in range(5)]
    assert len(set(ids)) == 5

    seen: dict[str, int] = {}
    for _ in range(5):
        response = subscriber.pull(subscription=sub_path, max_messages=10, timeout=10)
        for received in response.received_messages:
            seen[received.message.message_id] = json.loads(received.message.data)["n"]
        if len(seen) == 5:
            break
    assert seen == {mid: n for n, mid in enumerate(ids)}


def test_publish_to_missing_topic_fails(publisher: PublisherClient) -> None:
    """An unconfirmed publish raises, so the API cannot answer as if it were sent."""
    bus = PubSubBus(PROJECT, publisher, timeout=10)
    with pytest.raises(NotFound):
        bus.publish("no-such-topic", {"taskId": 1}, {})


def test_reserved_attribute_names_are_refused(publisher: PublisherClient) -> None:
    with pytest.raises(ValueError, match="reserved"):
        PubSubBus(PROJECT, publisher).publish("t", {}, {"timeout": "5"})
