"""What an operator reads in the log when work is dropped, lost, refused or recovered:
the events that explain why a task did or did not move."""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest

from audioconv.domain.errors import MailRejected
from audioconv.domain.model import Task, User
from audioconv.services import conversion, direct_uploads, notification, recovery, tasks
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.unit.fakes import Clock, FakeBlobs, FakeBus, FakeTranscoder, fake_deps, member


@pytest.fixture
def deps(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Dependencies:
    caplog.set_level(logging.INFO, logger="audioconv")
    return fake_deps(tmp_path)


def _task(deps: Dependencies, tmp_path: Path, user: User | None = None) -> Task:
    upload = tmp_path / "in.mp3"
    upload.write_bytes(b"AUDIO some samples")
    user = user or member(deps)
    return tasks.create_task(deps, user.id or 0, upload, "a.mp3", "ogg")


def _said(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("audioconv")]


def test_requests_for_deleted_or_finished_work_are_dropped_saying_so(
    deps: Dependencies, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    task = _task(deps, tmp_path)
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    caplog.clear()
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    conversion.convert(deps, TaskRef(999, 3))
    notification.notify(deps, TaskRef(task.id or 0, 2))
    assert _said(caplog) == [
        (logging.INFO, f"task {task.id} r1 is stale or done; request dropped"),
        (logging.INFO, "task 999 no longer exists; request dropped"),
        (logging.INFO, f"finished event for task {task.id} r2 is stale; dropped"),
    ]


def test_a_worker_that_lost_its_lease_says_it_stops(
    deps: Dependencies, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    task = _task(deps, tmp_path)

    def takeover() -> None:
        cast(Clock, deps.clock).advance(deps.settings.lease_seconds + 1)
        task.claim(1, deps.clock(), timedelta(seconds=60))

    cast(FakeTranscoder, deps.transcoder).during_convert = takeover
    caplog.clear()
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    assert _said(caplog) == [
        (logging.WARNING, f"task {task.id}: lease lost to another worker; this attempt stops")
    ]


def test_a_result_for_a_task_that_moved_on_is_discarded_saying_so(
    deps: Dependencies, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    task = _task(deps, tmp_path)
    store = cast(FakeBlobs, deps.blobs)
    put_file = store.put_file

    def store_while_the_user_changes_the_target(*args: object, **kwargs: object) -> None:
        put_file(*args, **kwargs)  # type: ignore[arg-type]
        tasks.change_format(deps, task.user_id, task.id or 0, "flac")

    store.put_file = store_while_the_user_changes_the_target  # type: ignore[method-assign]
    caplog.clear()
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    assert _said(caplog) == [
        (logging.INFO, f"task {task.id} moved on during conversion; result discarded")
    ]
    assert not any(k.startswith("outputs/") for k in cast(FakeBlobs, deps.blobs).files)


def test_a_lost_publish_says_the_sweep_will_redo_it(
    deps: Dependencies, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = member(deps)
    cast(FakeBus, deps.bus).down = True
    task = _task(deps, tmp_path, user)
    assert _said(caplog) == [
        (logging.ERROR, f"publish for task {task.id} failed; the sweep will republish it")
    ]
    cast(FakeBus, deps.bus).down = False
    cast(Clock, deps.clock).advance(60)
    caplog.clear()
    recovery.sweep(deps)
    assert _said(caplog) == [
        (
            logging.INFO,
            "sweep republished 1 conversions, 0 notifications, 0 report passes, 0 webhook attempts",
        )
    ]
    caplog.clear()
    recovery.sweep(deps, reclaim=True)  # nothing finished, so nothing to mail either
    assert _said(caplog) == [
        (
            logging.INFO,
            "sweep republished 1 conversions, 0 notifications, 0 report passes, 0 webhook attempts",
        )
    ]


def test_a_sweep_with_nothing_to_do_says_nothing(
    deps: Dependencies, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert recovery.sweep(deps) == recovery.SweepResult(0, 0)
    assert recovery.collect_garbage(deps) == 0
    assert _said(caplog) == []


def test_mail_given_up_for_good_is_logged_with_the_servers_reason(
    deps: Dependencies, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Refusing:
        def send(self, to: str, subject: str, body: str) -> None:
            raise MailRejected("550 no such user")

    deps.mailer = Refusing()
    task = _task(deps, tmp_path)
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    caplog.clear()
    notification.notify(deps, TaskRef(task.id or 0, 1))
    assert _said(caplog) == [
        (logging.WARNING, f"task {task.id} r1: notification given up: 550 no such user")
    ]


def test_uploads_that_are_not_ours_or_not_announced_are_logged(
    deps: Dependencies, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert direct_uploads.finalize(deps, "uploads/x/a.wav") is None
    owner = member(deps).id or 0
    ticket = direct_uploads.start(deps, owner, "a.wav", "mp3")
    key = ticket.url.split("storage.test/", 1)[1].split("?", 1)[0].replace("%20", " ")
    cast(FakeBus, deps.bus).down = True
    direct_uploads.receive(deps, key, io.BytesIO(b"AUDIO"))
    assert _said(caplog) == [
        (logging.INFO, "stored object 'uploads/x/a.wav' is not a direct upload; ignored"),
        (logging.ERROR, f"announcing {key} failed; the start-up reclaim will find it"),
    ]


def test_removed_files_are_counted_in_the_log(
    deps: Dependencies, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cast(FakeBlobs, deps.blobs).files.update({"uploads/x/a.mp3": b"", "uploads/y/b.mp3": b""})
    assert recovery.collect_garbage(deps) == 2
    assert _said(caplog) == [(logging.INFO, "removed 2 stored files no task refers to")]
