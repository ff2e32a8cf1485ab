"""Notification on fakes: mail the server refuses for good is given up, not retried forever."""

from __future__ import annotations

from pathlib import Path

import pytest

from audioconv.domain.errors import MailRejected
from audioconv.domain.model import TaskStatus
from audioconv.services import conversion, notification, recovery, tasks
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.unit.fakes import Clock, FakeBus, fake_deps, member


class RefusingMailer:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.attempts = 0

    def send(self, to: str, subject: str, body: str) -> None:
        self.attempts += 1
        raise self.error


def _finished_task(deps: Dependencies, tmp_path: Path) -> TaskRef:
    user = member(deps)
    upload = tmp_path / "in.mp3"
    upload.write_bytes(b"AUDIO some samples")
    task = tasks.create_task(deps, user.id or 0, upload, "a.mp3", "ogg")
    bus = deps.bus
    assert isinstance(bus, FakeBus)
    conversion.convert(deps, TaskRef.from_message(bus.published[-1][1]))
    assert task.status is TaskStatus.PROCESSED
    return TaskRef.from_message(bus.published[-1][1])


def _sweep_later(deps: Dependencies) -> recovery.SweepResult:
    clock = deps.clock
    assert isinstance(clock, Clock)
    clock.advance(3600)
    return recovery.sweep(deps)


def test_mail_rejected_for_good_is_given_up(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path)
    mailer = RefusingMailer(MailRejected("550 no such user"))
    deps.mailer = mailer
    ref = _finished_task(deps, tmp_path)
    notification.notify(deps, ref)  # no exception: the event is acknowledged
    notification.notify(deps, ref)
    assert mailer.attempts == 1
    with deps.uow() as uow:
        task = uow.tasks.get(ref.task_id)
    assert task is not None and task.notified_revision == ref.revision
    assert _sweep_later(deps).notifications == 0


@pytest.mark.parametrize("error", [ConnectionRefusedError(111, "refused"), OSError("timeout")])
def test_transient_mail_failure_is_retried(tmp_path: Path, error: Exception) -> None:
    deps = fake_deps(tmp_path)
    mailer = RefusingMailer(error)
    deps.mailer = mailer
    ref = _finished_task(deps, tmp_path)
    with pytest.raises(type(error)):
        notification.notify(deps, ref)
    with deps.uow() as uow:
        task = uow.tasks.get(ref.task_id)
    assert task is not None and task.notified_revision < ref.revision
    assert _sweep_later(deps).notifications == 1
