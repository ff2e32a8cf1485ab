"""Webhooks on fakes of our own ports: signing, the SSRF rules, and the retry schedule."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from audioconv.adapters.address_guard import refusal
from audioconv.domain import webhook_events
from audioconv.domain.errors import RetryLater
from audioconv.domain.model import Task, TaskStatus, WebhookAttempt
from audioconv.domain.webhook_events import Outcome
from audioconv.entrypoints.views import event_json, task_json
from audioconv.services import conversion, notification, profile, recovery, tasks, webhook_delivery
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.unit.fakes import Clock, FakeBus, FakeWebhooks, fake_deps, member

URL = "https://hooks.example.com/audioconv"


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"id":"evt_1_1"}'
    headers = webhook_events.signed_headers("whsec_abc", "evt_1_1", 1700000000, body)
    expected = hmac.new(b"whsec_abc", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert headers["Audioconv-Signature"] == f"t=1700000000,v1={expected}"
    assert headers["Audioconv-Event-Id"] == "evt_1_1"
    assert headers["Audioconv-Timestamp"] == "1700000000"
    signature = headers["Audioconv-Signature"]
    assert webhook_events.verify("whsec_abc", signature, body, now=1700000100)
    assert not webhook_events.verify("whsec_abc", signature, body + b" ", now=1700000100)
    assert not webhook_events.verify("whsec_other", signature, body, now=1700000100)
    assert not webhook_events.verify("whsec_abc", signature, body, now=1700000000 + 301)  # a replay
    assert not webhook_events.verify("whsec_abc", "v1=abc", body, now=1700000000)


def test_secrets_are_random() -> None:
    assert webhook_events.new_secret() != webhook_events.new_secret()
    assert len(webhook_events.new_secret()) > 40


@pytest.mark.parametrize(
    ("address", "private_allowed", "refused"),
    [
        ("127.0.0.1", False, "loopback"),
        ("127.0.0.1", True, None),
        ("::1", False, "loopback"),
        ("::ffff:10.0.0.1", False, "private"),
        ("10.0.0.1", True, None),
        ("172.16.5.4", False, "private"),
        ("fd00::1", False, "private"),
        ("100.64.0.1", False, "not a public address"),  # carrier-grade NAT
        ("169.254.169.254", True, "link-local"),  # the metadata server, even when allowed
        ("fe80::1", True, "link-local"),
        ("224.0.0.251", True, "multicast"),
        ("0.0.0.0", True, "unspecified"),
        ("240.0.0.1", True, "reserved"),
        ("8.8.8.8", False, None),
        ("2001:4860:4860::8888", False, None),
        # IPv6 addresses that carry an IPv4 one are judged by it (issue 18).
        ("2002:7f00:1::", False, "loopback address inside 6to4"),
        (
            "2002:a9fe:a9fe::",
            True,
            "link-local address (such as the cloud metadata server) inside 6to4",
        ),
        ("2002:808:808::", False, None),  # 6to4 of 8.8.8.8
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False, "loopback address inside Teredo"),
        (
            "64:ff9b::a9fe:a9fe",
            True,
            "link-local address (such as the cloud metadata server) inside NAT64",
        ),
        ("64:ff9b::808:808", False, None),
        ("64:ff9b:1::1", True, "local NAT64"),
        ("fec0::1", True, "site-local"),
    ],
)
def test_which_addresses_are_refused(
    address: str, private_allowed: bool, refused: str | None
) -> None:
    reason = refusal(ipaddress.ip_address(address), private_allowed)
    assert (reason is None) if refused is None else (reason is not None and refused in reason)


@pytest.mark.parametrize(
    ("outcome", "retried"),
    [
        (Outcome(status=500), True),
        (Outcome(status=503), True),
        (Outcome(status=429), True),
        (Outcome(status=408), True),
        (Outcome(error="timed out after 10 s"), True),
        (Outcome(error="could not connect"), True),
        (Outcome(status=404), False),
        (Outcome(status=301), False),
        (Outcome(error="refused: loopback", permanent=True), False),
    ],
)
def test_what_is_tried_again(outcome: Outcome, retried: bool) -> None:
    assert outcome.retryable is retried and not outcome.delivered


def test_backoff_doubles() -> None:
    assert [webhook_events.backoff(n, 10).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]


# --- the service on fakes ---------------------------------------------------------------


def _finished(deps: Dependencies, tmp_path: Path, url: str | None = URL) -> Task:
    user = member(deps)
    upload = tmp_path / "in.mp3"
    upload.write_bytes(b"AUDIO some samples")
    task = tasks.create_task(deps, user.id or 0, upload, "a.mp3", "ogg", webhook_url=url)
    bus = deps.bus
    assert isinstance(bus, FakeBus)
    conversion.convert(deps, TaskRef.from_message(bus.published[-1][1]))
    notification.notify(deps, TaskRef.from_message(bus.published[-1][1]))
    return task


def _deliveries(deps: Dependencies) -> list[webhook_delivery.Delivery]:
    bus = deps.bus
    assert isinstance(bus, FakeBus)
    topic = deps.settings.webhook_topic
    return [
        webhook_delivery.Delivery.from_message(data, attributes)
        for name, data, attributes in bus.published
        if name == topic
    ]


def _show(task: Task) -> dict[str, object]:
    return {"id": task.id, "status": task.status.value}


def test_retries_are_published_for_later_until_the_limit(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path)
    deps.settings.webhook_max_attempts = 3
    sender = deps.webhooks
    assert isinstance(sender, FakeWebhooks)
    sender.outcomes = [Outcome(status=500), Outcome(error="timed out"), Outcome(status=502)]
    task = _finished(deps, tmp_path)
    clock = deps.clock
    assert isinstance(clock, Clock)
    (first,) = _deliveries(deps)
    assert first.attempt == 1 and first.not_before is None
    webhook_delivery.deliver(deps, first, _show)
    second = _deliveries(deps)[-1]
    assert second.attempt == 2
    assert second.not_before == clock.now + timedelta(seconds=10)
    with pytest.raises(RetryLater):  # on Pub/Sub: nacked, redelivered later
        webhook_delivery.deliver(deps, second, _show)
    assert len(sender.posts) == 1
    clock.advance(10)
    webhook_delivery.deliver(deps, second, _show)
    third = _deliveries(deps)[-1]
    assert third.not_before == clock.now + timedelta(seconds=20)
    clock.advance(20)
    webhook_delivery.deliver(deps, third, _show)
    assert len(_deliveries(deps)) == 3  # the limit: no fourth
    results = [(a.attempt, a.result) for a in task.webhook_deliveries]
    assert results == [(1, "retrying"), (2, "retrying"), (3, "failed")]
    bodies = {body for _, body, _ in sender.posts}
    assert len(bodies) == 1  # every attempt sends the same event
    event = json.loads(bodies.pop())
    assert event == {
        "id": f"evt_{task.id}_1", "type": "task.processed",
        "createdAt": task.updated_at.isoformat(),
        "data": {"task": {"id": task.id, "status": "processed"}},
    }  # fmt: skip
    webhook_delivery.deliver(deps, third, _show)  # redelivered after giving up: nothing sent
    assert len(sender.posts) == 3


def test_delivered_event_is_not_sent_again(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path)
    _finished(deps, tmp_path)
    (first,) = _deliveries(deps)
    webhook_delivery.deliver(deps, first, _show)
    webhook_delivery.deliver(deps, first, _show)  # at-least-once: the message came twice
    sender = deps.webhooks
    assert isinstance(sender, FakeWebhooks) and len(sender.posts) == 1


def test_converted_again_stops_the_old_revisions_attempts(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path)
    task = _finished(deps, tmp_path)
    (first,) = _deliveries(deps)
    tasks.change_format(deps, task.user_id, task.id or 0, "flac")
    webhook_delivery.deliver(deps, first, _show)
    sender = deps.webhooks
    assert isinstance(sender, FakeWebhooks) and sender.posts == []


def test_no_url_no_delivery_and_mail_as_before(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path)
    _finished(deps, tmp_path, url=None)
    assert _deliveries(deps) == []
    assert len(deps.mailer.sent) == 1  # type: ignore[attr-defined]


def test_delivery_message_is_checked() -> None:
    with pytest.raises(ValueError, match=r"^not a webhook delivery message: \{'taskId': 1, "):
        webhook_delivery.Delivery.from_message({"taskId": 1, "revision": 1}, {})
    with pytest.raises(ValueError, match=r"^webhook delivery message out of range: \{'taskId': 0"):
        webhook_delivery.Delivery.from_message({"taskId": 0, "revision": 1, "attempt": 1}, {})
    with pytest.raises(ValueError):
        webhook_delivery.Delivery.from_message(
            {"taskId": 1, "revision": 1, "attempt": 1}, {"notBefore": "soon"}
        )
    when = datetime(2026, 1, 1).astimezone()
    found = webhook_delivery.Delivery.from_message(
        {"taskId": 1, "revision": 2, "attempt": 3}, {"notBefore": when.isoformat()}
    )
    assert found == webhook_delivery.Delivery(1, 2, 3, when)


def test_a_lost_attempt_is_republished_by_the_sweep(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path)
    sender = deps.webhooks
    assert isinstance(sender, FakeWebhooks)
    sender.outcomes = [Outcome(status=503)]
    task = _finished(deps, tmp_path)
    clock = deps.clock
    assert isinstance(clock, Clock)
    assert task.webhook_due_at == clock.now  # the first attempt: due at once
    (first,) = _deliveries(deps)
    webhook_delivery.deliver(deps, first, _show)
    assert task.webhook_due_at == clock.now + timedelta(seconds=10)
    # The second attempt's message is lost; the sweep finds it due, once it is
    # overdue by more than Pub/Sub's longest backoff.
    clock.advance(60)
    recovery.sweep(deps)
    assert len(_deliveries(deps)) == 2
    clock.advance(600)
    recovery.sweep(deps)
    again = _deliveries(deps)[-1]
    assert again.attempt == 2 and again.not_before is None
    webhook_delivery.deliver(deps, again, _show)
    webhook_delivery.deliver(deps, _deliveries(deps)[1], _show)  # the lost one turns up: a copy
    assert len(sender.posts) == 2
    assert [a.result for a in task.webhook_deliveries] == ["retrying", "delivered"]
    assert task.webhook_due_at is None
    clock.advance(3600)
    recovery.sweep(deps)
    assert len(_deliveries(deps)) == 3  # nothing more


# --- what a receiver gets, and what the task records --------------------------------------


def test_every_attempt_carries_a_json_event_signed_and_identified() -> None:
    signed = webhook_events.signature("whsec_abc", 1700000000, b"{}")
    headers = webhook_events.signed_headers("whsec_abc", "evt_7_2", 1700000000, b"{}")
    assert headers == {
        "Content-Type": "application/json",
        "User-Agent": "audioconv-webhooks/1",
        "Audioconv-Event-Id": "evt_7_2",
        "Audioconv-Timestamp": "1700000000",
        "Audioconv-Signature": f"t=1700000000,v1={signed}",
    }


def test_a_receiver_accepts_a_signature_up_to_the_tolerance_and_nothing_malformed() -> None:
    body = b'{"id":"evt_1_1"}'
    header = webhook_events.signed_headers("whsec_abc", "evt_1_1", 1700000000, body)[
        "Audioconv-Signature"
    ]
    assert webhook_events.verify("whsec_abc", header, body, now=1700000000 + 300)
    assert webhook_events.verify("whsec_abc", header, body, now=1700000000 - 300)
    assert not webhook_events.verify("whsec_abc", header, body, now=1700000000 - 301)
    assert not webhook_events.verify("whsec_abc", "t=1700000000", body, now=1700000000)  # no v1
    assert not webhook_events.verify("whsec_abc", "t=soon," + header.split(",")[1], body, now=0)
    assert not webhook_events.verify(
        "whsec_abc", "t=1700000000,v1=ab=cd,junk", body, now=1700000000
    )


def test_a_secret_is_the_prefix_and_32_random_bytes() -> None:
    made = webhook_events.new_secret()
    assert made.startswith("whsec_") and len(made) == len("whsec_") + 43  # base64url of 32


def test_a_failed_task_sends_a_compact_task_failed_event(tmp_path: Path) -> None:
    task = Task(user_id=1, file_name="a.mp3", input_format="mp3", output_format="ogg",
                input_key="k", id=4)  # fmt: skip
    task.fail("not audio", task.updated_at)
    body = webhook_events.event_body(task, {"id": 4})
    assert body == (
        b'{"id":"evt_4_1","type":"task.failed","createdAt":"'
        + task.updated_at.isoformat().encode()
        + b'","data":{"task":{"id":4}}}'
    )


def _attempt(event: str, attempt: int, result: str) -> WebhookAttempt:
    at = datetime(2026, 1, 1, 11, 0)
    return WebhookAttempt(event, attempt, at, URL, None, "refused", result, None)


def test_each_attempt_is_recorded_as_the_task_shows_it_and_only_the_last_50_kept() -> None:
    task = Task(user_id=1, file_name="a.mp3", input_format="mp3", output_format="ogg",
                input_key="k", id=4, status=TaskStatus.PROCESSED)  # fmt: skip
    now = datetime(2026, 1, 1, 12, 0)
    later = now + timedelta(seconds=10)
    task.webhook_deliveries = tuple(_attempt("old", n, "failed") for n in range(60))
    entry = webhook_events.record(task, URL, 3, Outcome(status=503, error="busy"), now, later)
    assert entry.as_json() == {
        "eventId": "evt_4_1", "attempt": 3, "at": now.isoformat(), "url": URL,
        "statusCode": 503, "error": "busy", "result": "retrying",
        "nextAttemptAt": later.isoformat(),
    }  # fmt: skip
    assert len(task.webhook_deliveries) == 50
    assert task.webhook_deliveries[0] == _attempt("old", 11, "failed")
    assert task.webhook_deliveries[-1] == entry and task.webhook_due_at == later
    last = webhook_events.record(task, URL, 4, Outcome(error="timed out"), later, None)
    assert (last.result, last.next_attempt_at, last.status_code) == ("failed", None, None)
    assert task.webhook_due_at is None


def test_a_delivery_message_names_the_task_revision_and_attempt(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path)
    task = _finished(deps, tmp_path)
    bus = deps.bus
    assert isinstance(bus, FakeBus)
    topic = deps.settings.webhook_topic
    ((_, data, attributes),) = [m for m in bus.published if m[0] == topic]
    assert data == {"taskId": task.id, "revision": 1, "attempt": 1}
    assert attributes == {"taskId": str(task.id), "revision": "1", "webhookAttempt": "1"}


def test_the_posted_event_carries_its_id_and_the_users_signature(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path)
    task = _finished(deps, tmp_path)
    webhook_delivery.deliver(deps, _deliveries(deps)[0], _show)
    sender = deps.webhooks
    assert isinstance(sender, FakeWebhooks)
    ((url, body, headers),) = sender.posts
    assert url == URL and headers["Audioconv-Event-Id"] == f"evt_{task.id}_1"
    key = profile.secret(deps, task.user_id)
    assert webhook_events.verify(key, headers["Audioconv-Signature"], body,
                          now=int(deps.clock().timestamp()))  # fmt: skip


def test_a_secret_is_made_once_and_replaced_only_when_rotated(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path)
    user = member(deps)
    first = profile.secret(deps, user.id or 0)
    assert profile.secret(deps, user.id or 0) == first
    rotated = profile.secret(deps, user.id or 0, rotate=True)
    assert rotated != first and rotated.startswith("whsec_")
    assert profile.secret(deps, user.id or 0) == rotated


def test_an_early_attempt_is_refused_saying_when_it_is_due(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path)
    task = _finished(deps, tmp_path)
    due = deps.clock() + timedelta(seconds=5)
    with pytest.raises(RetryLater) as early:
        webhook_delivery.deliver(deps, webhook_delivery.Delivery(task.id or 0, 1, 2, due), _show)
    assert str(early.value) == f"webhook attempt 2 is due at {due}"
    assert early.value.after_seconds == 5  # redelivered when it is due


def test_a_copy_of_a_failed_attempt_is_not_sent_again(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path)
    sender = deps.webhooks
    assert isinstance(sender, FakeWebhooks)
    sender.outcomes = [Outcome(status=500)]
    _finished(deps, tmp_path)
    (first,) = _deliveries(deps)
    webhook_delivery.deliver(deps, first, _show)
    webhook_delivery.deliver(deps, first, _show)  # the same message again, before the retry
    assert len(sender.posts) == 1 and len(_deliveries(deps)) == 2


def test_messages_for_a_deleted_task_or_an_older_revision_are_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="audioconv")
    deps = fake_deps(tmp_path)
    task = _finished(deps, tmp_path)
    (first,) = _deliveries(deps)
    tasks.change_format(deps, task.user_id, task.id or 0, "flac")
    bus = deps.bus
    assert isinstance(bus, FakeBus)
    conversion.convert(deps, TaskRef.from_message(bus.published[-1][1]))  # revision 2, done
    assert task.finished and task.revision == 2
    webhook_delivery.deliver(deps, first, _show)
    webhook_delivery.deliver(deps, webhook_delivery.Delivery(999, 1, 1), _show)
    sender = deps.webhooks
    assert isinstance(sender, FakeWebhooks) and sender.posts == []
    dropped = [r.getMessage() for r in caplog.records if "is stale" in r.getMessage()]
    assert dropped == [f"webhook for task {task.id} r1 is stale; dropped",
                       "webhook for task 999 r1 is stale; dropped"]  # fmt: skip


def test_a_webhook_removed_before_its_attempt_is_no_longer_due(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path)
    other = _finished(deps, tmp_path, url=None)  # so that the task in question is not id 1
    user = member(deps, "bob")
    profile.update_profile(deps, user.id or 0, webhook_url=URL)
    upload = tmp_path / "b.mp3"
    upload.write_bytes(b"AUDIO other samples")
    task = tasks.create_task(deps, user.id or 0, upload, "b.mp3", "ogg")
    bus = deps.bus
    assert isinstance(bus, FakeBus)
    conversion.convert(deps, TaskRef.from_message(bus.published[-1][1]))
    notification.notify(deps, TaskRef.from_message(bus.published[-1][1]))
    assert task.id != other.id and task.webhook_due_at is not None
    profile.update_profile(deps, user.id or 0, webhook_url=None)
    webhook_delivery.deliver(deps, _deliveries(deps)[-1], _show)
    sender = deps.webhooks
    assert isinstance(sender, FakeWebhooks) and sender.posts == []
    assert task.webhook_due_at is None  # the sweep will not republish it


def test_an_event_is_settled_once_delivered_or_given_up_not_while_retrying() -> None:
    task = Task(user_id=1, file_name="a.mp3", input_format="mp3", output_format="ogg",
                input_key="k", id=4, revision=2)  # fmt: skip
    assert not webhook_events.settled(task)
    for result, settled in (("retrying", False), ("delivered", True), ("failed", True)):
        task.webhook_deliveries = (_attempt("evt_4_2", 1, result),)
        assert webhook_events.settled(task) is settled, result
        task.webhook_deliveries = (_attempt("evt_4_1", 1, result),)
        assert not webhook_events.settled(task)  # the previous revision's event


def test_each_attempt_and_giving_up_are_logged_without_the_urls_query(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="audioconv")
    deps = fake_deps(tmp_path)
    deps.settings.webhook_max_attempts = 2
    sender = deps.webhooks
    assert isinstance(sender, FakeWebhooks)
    sender.outcomes = [Outcome(status=500), Outcome(error="timed out")]
    task = _finished(deps, tmp_path, url=URL + "?token=s3cret")
    webhook_delivery.deliver(deps, _deliveries(deps)[0], _show)
    clock = deps.clock
    assert isinstance(clock, Clock)
    clock.advance(10)
    webhook_delivery.deliver(deps, _deliveries(deps)[1], _show)
    said = [
        (r.levelname, r.getMessage()) for r in caplog.records if "webhook evt" in r.getMessage()
    ]
    event = f"evt_{task.id}_1"
    assert said == [("INFO", f"webhook {event} attempt 1 to hooks.example.com: 500"),
                    ("INFO", f"webhook {event} attempt 2 to hooks.example.com: timed out"),
                    ("WARNING", f"webhook {event} given up after attempt 2")]  # fmt: skip
    assert [a.url for a in task.webhook_deliveries] == [URL + "?token=s3cret"] * 2


def test_an_event_shows_the_task_as_the_api_does_less_its_delivery_attempts(
    deps: Dependencies, upload: Path
) -> None:
    task = tasks.create_task(deps, member(deps).id or 0, upload, "a.mp3", "ogg")
    shown, sent = task_json(task), event_json(task)
    assert "webhookDeliveries" in shown and "webhookDeliveries" not in sent  # they change
    assert sent == {k: v for k, v in shown.items() if k != "webhookDeliveries"}
