"""The message handlers and the Pub/Sub push edge, on fakes of every port."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, cast

import pytest
from cloudevents.http import CloudEvent

from audioconv.domain.model import TaskStatus
from audioconv.entrypoints import events, pubsub_push
from audioconv.ports import Message
from audioconv.services import auth, conversion, tasks
from tests.unit.fakes import FakeBus, FakeMailer, fake_deps


def _push(data: Any, message_id: str = "1") -> CloudEvent:
    """What functions-framework makes of a Pub/Sub push of ``data``."""
    encoded = base64.b64encode(json.dumps(data).encode()).decode()
    return CloudEvent(
        {"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "test"},
        {"message": {"data": encoded, "attributes": {"a": "b"}, "messageId": message_id}},
    )


def test_a_published_request_is_converted_and_its_owner_mailed(tmp_path: Path) -> None:
    """The worker's and the notifier's handlers take the very message the services publish."""
    deps = fake_deps(tmp_path)
    bus, mailer = cast(FakeBus, deps.bus), cast(FakeMailer, deps.mailer)
    user = auth.signup(deps, "ann", "ann@example.com", "password1", "password1")
    upload = tmp_path / "in.mp3"
    upload.write_bytes(b"AUDIO samples")
    task = tasks.create_task(deps, user.id or 0, upload, "in.mp3", "ogg")
    topic, data, attributes = bus.published[-1]
    assert topic == deps.settings.conversion_topic
    events.handle_conversion(deps, Message("m1", data, attributes))
    assert tasks.get_task(deps, user.id or 0, task.id or 0).status is TaskStatus.PROCESSED
    topic, data, attributes = bus.published[-1]
    assert topic == deps.settings.finished_topic
    events.handle_finished(deps, Message("m2", data, attributes))
    assert [to for to, _, _ in mailer.sent] == ["ann@example.com"]


@pytest.mark.parametrize("task_id", [0, -1, 2**31, 10**30])
def test_task_ids_outside_the_id_range_are_dropped_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task_id: int
) -> None:
    """A message no task can match is acknowledged; redelivering it could never help."""
    handled: list[Any] = []
    monkeypatch.setattr(conversion, "convert", lambda deps, ref: handled.append(ref))
    events.handle_conversion(
        fake_deps(tmp_path), Message("1", {"taskId": task_id, "revision": 1}, {})
    )
    assert handled == []


def test_the_push_edge_decodes_the_envelope_into_a_message() -> None:
    message = pubsub_push.decode(_push({"taskId": 3, "revision": 2}, "77"))
    assert message == Message("77", {"taskId": 3, "revision": 2}, {"a": "b"})


@pytest.mark.parametrize(
    "envelope",
    [
        {},
        {"message": "text"},
        {"message": {"data": "not base64!"}},
        {"message": {"data": base64.b64encode(b"not json").decode()}},
        {"message": {"data": base64.b64encode(b"[1, 2]").decode()}},
    ],
)
def test_the_push_edge_refuses_what_is_not_a_pubsub_message(envelope: dict[str, Any]) -> None:
    event = CloudEvent({"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "t"},
                       envelope)  # fmt: skip
    with pytest.raises(ValueError):
        pubsub_push.decode(event)
