"""The CloudEvent handlers decode each Pub/Sub message once; one wording for too-large uploads."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from audioconv import bootstrap
from audioconv.domain.errors import PayloadTooLarge
from audioconv.entrypoints import events
from audioconv.services import conversion, notification
from tests.unit.fakes import fake_deps


def _event(data: dict[str, Any]) -> CloudEvent:
    encoded = base64.b64encode(json.dumps(data).encode()).decode()
    return CloudEvent(
        {"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "test"},
        {"message": {"data": encoded, "attributes": {}, "messageId": "1"}},
    )


@pytest.mark.parametrize("handler", ["handle_conversion", "handle_finished"])
def test_each_message_is_decoded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, handler: str
) -> None:
    decoded: list[CloudEvent] = []
    real = events.pubsub_message

    def counting(event: CloudEvent) -> Any:
        decoded.append(event)
        return real(event)

    handled: list[Any] = []
    monkeypatch.setattr(events, "pubsub_message", counting)
    monkeypatch.setattr(conversion, "convert", lambda deps, ref: handled.append(ref))
    monkeypatch.setattr(notification, "notify", lambda deps, ref: handled.append(ref))
    bootstrap.install(fake_deps(tmp_path))
    try:
        getattr(events, handler)(_event({"taskId": 3, "revision": 2}))
    finally:
        bootstrap.install(None)
    assert len(decoded) == 1
    assert [(ref.task_id, ref.revision) for ref in handled] == [(3, 2)]


def test_payload_too_large_says_the_limit() -> None:
    error = PayloadTooLarge.over(1024)
    assert (error.status, error.message) == (413, "upload is larger than the limit of 1024 bytes")


@pytest.mark.parametrize("task_id", [0, -1, 2**31, 10**30])
def test_task_ids_outside_the_id_range_are_dropped_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task_id: int
) -> None:
    """A message no task can match is acknowledged; redelivering it could never help."""
    handled: list[Any] = []
    monkeypatch.setattr(conversion, "convert", lambda deps, ref: handled.append(ref))
    bootstrap.install(fake_deps(tmp_path))
    try:
        events.handle_conversion(_event({"taskId": task_id, "revision": 1}))
    finally:
        bootstrap.install(None)
    assert handled == []
