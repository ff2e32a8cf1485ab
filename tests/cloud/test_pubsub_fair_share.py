"""Fair share on Google's own Pub/Sub emulator: one user's backlog of conversion
requests does not hold back another user's request (entrypoints/pull_worker.Slots).

Pub/Sub delivers roughly in publishing order and the worker holds only so many
messages (its FlowControl), so user 2's request, published after user 1's twenty,
reaches the worker only because the worker defers user 1's requests that cannot run
while the database says someone else waits. Here the database's answer comes from
what the test knows (``load``); the conversions are a sleep."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from audioconv.adapters.pubsub_pull import PubSubPuller
from audioconv.entrypoints.pull_worker import Slots
from audioconv.ports import Message

pytestmark = pytest.mark.slow
PROJECT = "test-project"


@pytest.fixture
def topic(pubsub_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A fresh topic and its pull subscription: (topic path, subscription name)."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    name = f"fair-{uuid.uuid4().hex[:8]}"
    publisher, subscriber = PublisherClient(), SubscriberClient()
    path = publisher.topic_path(PROJECT, name)
    try:
        publisher.create_topic(name=path)
        subscriber.create_subscription(
            name=subscriber.subscription_path(PROJECT, name), topic=path, ack_deadline_seconds=10
        )
        yield path, name
    finally:
        publisher.stop()
        subscriber.close()


def test_another_users_request_runs_at_once_behind_a_backlog(topic: tuple[str, str]) -> None:
    path, name = topic
    started: dict[str, float] = {}
    waiting: set[int] = set()
    release = threading.Event()

    def load() -> tuple[dict[int, int], set[int]]:
        """What the database would say: user 2 waits until its request has started."""
        return {}, waiting - ({2} if "2-0" in started else set())

    def convert(message: Message) -> None:
        key = f"{message.attributes['userId']}-{message.data['n']}"
        started.setdefault(key, time.monotonic())
        if message.attributes["userId"] == "1":
            release.wait(60)

    slots = Slots(2, load, cap=1, recheck_seconds=0.2)
    puller = PubSubPuller(PROJECT, max_lease_seconds=600)
    puller.subscribe(name, slots.guard(convert), 4)
    publisher = PublisherClient()
    for n in range(20):
        data = json.dumps({"n": n}).encode()
        publisher.publish(path, data, userId="1").result(timeout=30)
    puller.start()
    try:
        deadline = time.monotonic() + 60
        while len(started) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(k.split("-")[0] for k in started) == ["1", "1"]
        waiting.add(2)
        published = time.monotonic()
        publisher.publish(path, json.dumps({"n": 0}).encode(), userId="2").result(timeout=30)
        while "2-0" not in started and time.monotonic() < published + 30:
            time.sleep(0.05)
        # User 1's two conversions are still running: user 2's ran beside them.
        assert "2-0" in started, started
        assert len([k for k in started if k.startswith("1-")]) == 2
        print(f"user 2's request started {started['2-0'] - published:.2f} s after publishing")
    finally:
        release.set()
        puller.shutdown(wait=False)
        publisher.stop()
