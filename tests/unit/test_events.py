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
from audioconv.services import conversion, tasks
from audioconv.services.dependencies import Dependencies
from audioconv.services.direct_uploads import DirectKey
from audioconv.services.messages import UploadArrived
from tests.unit.fakes import FakeBlobs, FakeBus, FakeMailer, FakeTranscoder, fake_deps, member


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
    user = member(deps)
    upload = tmp_path / "in.mp3"
    upload.write_bytes(b"AUDIO samples")
    task = tasks.create_task(deps, user.id or 0, upload, "in.mp3", "ogg")
    topic, data, attributes = bus.published[-1]
    assert topic == deps.settings.conversion_topic
    events.handle_conversion(deps, Message("m1", data, attributes))
    assert tasks.get_task(deps, user.id or 0, task.id or 0).status is TaskStatus.PROCESSED
    (topic, data, attributes), report = bus.published[-2:]
    assert topic == deps.settings.finished_topic
    events.handle_finished(deps, Message("m2", data, attributes))
    assert [to for to, _, _ in mailer.sent] == ["ann@example.com"]
    topic, data, attributes = report
    assert topic == deps.settings.report_topic
    events.handle_report(deps, Message("m3", data, attributes))
    done = tasks.get_task(deps, user.id or 0, task.id or 0)
    assert done.waveform_key and not done.report_due


def test_a_report_request_pushed_to_the_worker_function_runs_the_report(
    tmp_path: Path,
) -> None:
    """The worker's push function serves one handler: it tells a report request from a
    conversion request by its attribute."""
    deps = fake_deps(tmp_path)
    bus = cast(FakeBus, deps.bus)
    user = member(deps)
    upload = tmp_path / "in.mp3"
    upload.write_bytes(b"AUDIO samples")
    task = tasks.create_task(deps, user.id or 0, upload, "in.mp3", "ogg")
    events.handle_conversion(deps, Message("m1", *bus.published[-1][1:]))
    topic, data, attributes = bus.published[-1]
    assert topic == deps.settings.report_topic and attributes["report"] == "true"
    events.handle_conversion(deps, Message("m2", data, attributes))
    done = tasks.get_task(deps, user.id or 0, task.id or 0)
    assert done.status is TaskStatus.PROCESSED
    assert len(cast(FakeTranscoder, deps.transcoder).jobs) == 1  # not converted again
    assert done.waveform_key and not done.report_due


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


def _stored_direct_upload(tmp_path: Path) -> tuple[Dependencies, int, str]:
    """A user and a direct upload's file stored under its signed key, not yet a task."""
    deps = fake_deps(tmp_path)
    user = member(deps)
    key = DirectKey(user.id or 0, "c" * 32, "ogg", "big.mp3").key
    cast(FakeBlobs, deps.blobs).files[key] = b"AUDIO big samples"
    return deps, user.id or 0, key


def test_an_arrived_direct_upload_becomes_its_task(tmp_path: Path) -> None:
    deps, user_id, key = _stored_direct_upload(tmp_path)
    events.handle_upload(deps, Message("u1", UploadArrived(key).as_message(), {}))
    (task,) = tasks.list_tasks(deps, user_id, None, descending=False)
    assert (task.input_key, task.output_format, task.status) == (key, "ogg", TaskStatus.UPLOADED)
    topic, data, _ = cast(FakeBus, deps.bus).published[-1]
    assert (topic, data) == (deps.settings.conversion_topic, {"taskId": task.id, "revision": 1})


def test_the_push_edge_turns_the_bucket_s_finalize_notification_into_an_arrival(
    tmp_path: Path,
) -> None:
    """In the cloud the bucket notifies the worker function, which shares its push
    endpoint with conversion requests: each goes to its own handler."""
    notification = Message(
        "n1", {"name": "direct-uploads/1/x/ogg/a.mp3", "bucket": "b", "size": "5"},
        {"eventType": "OBJECT_FINALIZE", "objectId": "direct-uploads/1/x/ogg/a.mp3"},
    )  # fmt: skip
    assert pubsub_push.uploaded_object(notification) == Message(
        "n1", {"key": "direct-uploads/1/x/ogg/a.mp3"}, {}
    )
    deleted = Message("n2", {"name": "k"}, {"eventType": "OBJECT_DELETE"})
    assert pubsub_push.uploaded_object(deleted) is None


@pytest.mark.parametrize("data", [{}, {"key": ""}, {"key": 5}, {"name": "direct-uploads/x"}])
def test_a_malformed_upload_message_is_dropped(tmp_path: Path, data: dict[str, Any]) -> None:
    deps = fake_deps(tmp_path)
    events.handle_upload(deps, Message("u1", data, {}))
    assert cast(FakeBus, deps.bus).published == []


@pytest.mark.parametrize("data", [{}, {"key": ""}, {"key": 5}])
def test_a_message_that_is_not_an_upload_is_refused_saying_what_it_was(
    data: dict[str, object],
) -> None:
    with pytest.raises(ValueError) as refused:
        UploadArrived.from_message(data)
    assert str(refused.value) == f"not an upload message: {data!r}"
