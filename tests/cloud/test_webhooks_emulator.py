"""Webhooks in the cloud topology, on Google's Pub/Sub emulator, which really pushes.

The API, the worker and the notifier run as their functions, as deployed; the
webhook topic pushes to the notifier as infra/terraform/pubsub.tf has it. A 500
from the receiver makes the next attempt a message with a ``notBefore``: pushed
at once, refused (nacked) by the notifier until its time, pushed again by Pub/Sub.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from audioconv.domain import webhook_events
from tests.support.audio import make_audio
from tests.support.http_api import HttpApi
from tests.support.procs import free_port, serve_function
from tests.support.receiver import webhook_receiver

pytestmark = pytest.mark.slow
PROJECT = "test-project"
# Topic -> the service its push subscription targets, and the path (pubsub.tf).
ENDPOINTS = {
    "requests": ("worker", "/pubsub/conversion-requests"),
    "finished": ("notify", "/pubsub/conversion-finished"),
    "webhooks": ("notify", "/pubsub/webhook-deliveries"),
}


@contextmanager
def push_topics(urls: dict[str, str]) -> Iterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    publisher, subscriber = PublisherClient(), SubscriberClient()
    names: dict[str, str] = {}
    try:
        for key, (service, path) in ENDPOINTS.items():
            topic = publisher.topic_path(PROJECT, f"{key}-{suffix}")
            publisher.create_topic(name=topic)
            subscriber.create_subscription(
                name=subscriber.subscription_path(PROJECT, f"{key}-{suffix}-push"),
                topic=topic,
                push_config={"push_endpoint": f"{urls[service]}{path}"},
                ack_deadline_seconds=60,
            )
            names[key] = f"{key}-{suffix}"
        yield names
    finally:
        publisher.stop()
        subscriber.close()


def _deliveries(api: HttpApi, task_id: int, timeout: float = 120) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        url = f"{api.base}/api/tasks/{task_id}"
        attempts = requests.get(url, headers=api.headers, timeout=30).json()["webhookDeliveries"]
        if any(a["result"] in ("delivered", "failed") for a in attempts):
            return list(attempts)
        assert time.monotonic() < deadline, f"no final delivery: {attempts}"
        time.sleep(0.2)


def test_webhook_retried_through_pubsub(
    tmp_path: Path,
    clean_postgres_url: str,
    pubsub_emulator: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    song = make_audio(tmp_path / "song.wav", 1.0)
    ports = {name: free_port() for name in ("api", "worker", "notify")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with ExitStack() as stack:
        receiver = stack.enter_context(webhook_receiver())
        receiver.script = [500]
        topics = stack.enter_context(push_topics(urls))
        env = {
            "AUDIOCONV_DATABASE_URL": clean_postgres_url,
            "AUDIOCONV_DATA_DIR": str(tmp_path / "data"),  # one machine: shared local blobs
            "AUDIOCONV_SECRET_KEY": "emulator-webhook-secret-key-0123456789",
            "AUDIOCONV_EVENT_BACKEND": "pubsub",
            "AUDIOCONV_GCP_PROJECT": PROJECT,
            "PUBSUB_EMULATOR_HOST": pubsub_emulator,
            "AUDIOCONV_CONVERSION_TOPIC": topics["requests"],
            "AUDIOCONV_FINISHED_TOPIC": topics["finished"],
            "AUDIOCONV_WEBHOOK_TOPIC": topics["webhooks"],
            "AUDIOCONV_WEBHOOK_BACKOFF_SECONDS": "2",
            "AUDIOCONV_WEBHOOK_ALLOW_HTTP": "true",  # the receiver here has no certificate
            "AUDIOCONV_WEBHOOK_ALLOW_PRIVATE": "true",  # and is on this machine
            "AUDIOCONV_MAIL_BACKEND": "console",
            "AUDIOCONV_PUSH_AUTH": "false",  # the emulator signs nothing
        }
        functions = {
            "api": ("upload_api", "api", "http"),
            "worker": ("convert_worker", "convert", "cloudevent"),
            "notify": ("notify", "notify", "cloudevent"),
        }
        for name, (source, target, kind) in functions.items():
            log = tmp_path / f"{name}.log"
            stack.enter_context(serve_function(source, target, kind, env, ports[name], log))

        api = HttpApi(urls["api"], "wes")
        response = api.post_file(song, "mp3", webhookUrl=receiver.url)
        assert response.status_code == 201, response.text
        task_id = response.json()["id"]
        attempts = _deliveries(api, task_id)
        secret = requests.get(f"{api.base}/api/me/webhook-secret", headers=api.headers,
                              timeout=30).json()["secret"]  # fmt: skip

    assert [(a["statusCode"], a["result"]) for a in attempts] == [
        (500, "retrying"), (200, "delivered")
    ]  # fmt: skip
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["Audioconv-Event-Id"] == second.headers["Audioconv-Event-Id"]
    now = int(time.time())
    assert all(
        webhook_events.verify(secret, r.headers["Audioconv-Signature"], r.body, now)
        for r in (first, second)
    )
    event = json.loads(second.body)
    assert event["type"] == "task.processed" and event["data"]["task"]["id"] == task_id
