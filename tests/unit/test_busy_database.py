"""While another process holds the database's write lock (a long write, a sweep), what
only reads still answers: sign-in, listings, downloads, refusals over quota, readiness.
The fake unit of work refuses to begin a transaction that could write meanwhile, as
SQLite's ``BEGIN IMMEDIATE`` would wait and then fail."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from audioconv.domain.errors import (
    InvalidInput,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
)
from audioconv.domain.model import utcnow
from audioconv.services import (
    auth,
    batches,
    conversion,
    direct_uploads,
    profile,
    report,
    tasks,
    webhook_delivery,
)
from audioconv.services.batches import Upload
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from audioconv.services.readiness import Readiness
from tests.unit.fakes import Clock, DatabaseBusy, FakeBus, FakeUnitOfWork


def busy(deps: Dependencies) -> FakeUnitOfWork:
    uow = cast(FakeUnitOfWork, deps.uow())
    uow.busy = True
    return uow


def test_signing_in_and_tokens_work_while_another_process_writes(deps: Dependencies) -> None:
    user = auth.signup(deps, "ann", "ann@example.com", "password1", "password1")
    cast(Clock, deps.clock).now = utcnow()  # PyJWT checks expiry against the real clock
    token = auth.issue_token(deps, user)
    assert auth.login(deps, "ann", "password1") is user  # counted before argon2: a write
    busy(deps)
    assert auth.login(deps, "ann", "password1") is user  # checked lately: a read
    assert auth.authenticate(deps, f"Bearer {token}") == user.id
    with pytest.raises(DatabaseBusy):  # a new account has to wait
        auth.signup(deps, "bob", "bob@example.com", "password1", "password1")


def test_a_throttled_sign_up_is_refused_while_another_process_writes(deps: Dependencies) -> None:
    for n in range(20):  # each counts, made or not
        with pytest.raises(InvalidInput):
            auth.signup(deps, f"u{n}", f"u{n}@example.com", "password1", "password2", "1.2.3.4")
    busy(deps)
    with pytest.raises(TooManyRequests, match="too many sign-ups from your address"):
        auth.signup(deps, "zed", "zed@example.com", "password1", "password1", "1.2.3.4")


def test_tasks_and_their_files_are_served_while_another_process_writes(
    deps: Dependencies, upload: Path
) -> None:
    user = auth.signup(deps, "ann", "ann@example.com", "password1", "password1")
    uid = user.id or 0
    task = tasks.create_task(deps, uid, upload, "in.mp3", "ogg")
    conversion.convert(deps, TaskRef.from_message(cast(FakeBus, deps.bus).published[-1][1]))
    report.run_report(deps, TaskRef.of(task))  # makes the waveform
    ticket = direct_uploads.start(deps, uid, "b.wav", "mp3")
    batch = batches.create_batch(deps, uid, "album")
    key = profile.secret(deps, uid)
    busy(deps)
    assert [t.id for t in tasks.list_tasks(deps, uid, None, False)] == [task.id]
    assert tasks.get_task(deps, uid, task.id or 0) is task
    assert tasks.task_download(deps, uid, task.id or 0, "converted").key == task.output_key
    assert tasks.task_waveform(deps, uid, task.id or 0).key == task.waveform_key
    assert tasks.file_download(deps, uid, "in.ogg").key == task.output_key
    assert direct_uploads.find(deps, uid, ticket.upload_id) is None
    assert batches.get_batch(deps, uid, batch.id or 0).batch is batch
    assert [v.batch for v in batches.list_batches(deps, uid)] == [batch]
    batches.check_batch(deps, uid, batch.id)
    assert profile.profile(deps, uid) is user
    assert profile.secret(deps, uid) == key
    assert Readiness().check(deps).checks["database"] == "ok"


def test_uploads_over_quota_are_refused_while_another_process_writes(
    deps: Dependencies, upload: Path
) -> None:
    deps.settings = deps.settings.model_copy(update={"quota_stored_bytes": 5})
    busy(deps)
    with pytest.raises(PayloadTooLarge):
        tasks.create_task(deps, 1, upload, "in.mp3", "ogg")
    with pytest.raises(PayloadTooLarge):
        batches.upload_files(deps, 1, [Upload(upload, "in.mp3")], "ogg", batch_id=None)
    deps.settings = deps.settings.model_copy(update={"quota_tasks_in_flight": -1})
    with pytest.raises(TooManyRequests):
        direct_uploads.start(deps, 1, "b.wav", "mp3")


def test_an_unknown_token_is_refused_while_another_process_writes(deps: Dependencies) -> None:
    busy(deps)
    with pytest.raises(Unauthorized):
        auth.authenticate(deps, "Bearer not-a-token")


def test_a_stale_webhook_message_is_dropped_while_another_process_writes(
    deps: Dependencies,
) -> None:
    busy(deps)
    webhook_delivery.deliver(
        deps, webhook_delivery.Delivery(task_id=7, revision=1, attempt=1), lambda t: {}
    )
