"""Service rules at their edges, on fakes of every port: a retarget's webhook, a direct
upload's key and quota, what a notification leaves due, and what a sweep logs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from audioconv.domain.errors import NotFound, PayloadTooLarge, TooManyRequests, Unauthorized
from audioconv.domain.media import Picture
from audioconv.domain.model import Task
from audioconv.domain.options import ConversionOptions, requested_options
from audioconv.domain.webhook_events import Outcome
from audioconv.services import (
    auth,
    conversion,
    direct_uploads,
    notification,
    recovery,
    report,
    tasks,
    webhook_delivery,
)
from audioconv.services.dependencies import Dependencies
from audioconv.services.direct_uploads import DirectKey
from audioconv.services.messages import TaskRef
from tests.unit.fakes import Clock, FakeBus, FakeTranscoder, FakeWebhooks, member

NO_OPTIONS = ConversionOptions()

URL = "https://hooks.example.com/in"


def _user(deps: Dependencies) -> int:
    return member(deps).id or 0


def _finished(deps: Dependencies, upload: Path, url: str | None) -> Task:
    """Converted, notified and reported on (its waveform made)."""
    task = tasks.create_task(deps, _user(deps), upload, "a.mp3", "ogg", webhook_url=url)
    bus = cast(FakeBus, deps.bus)
    conversion.convert(deps, TaskRef.from_message(bus.published[-1][1]))
    ref = TaskRef.of(task)
    notification.notify(deps, ref)
    report.run_report(deps, ref)
    return task


def test_a_retarget_keeps_sets_or_clears_the_tasks_webhook(
    deps: Dependencies, upload: Path
) -> None:
    task = tasks.create_task(deps, _user(deps), upload, "a.mp3", "ogg", webhook_url=URL)
    tasks.change_format(deps, task.user_id, task.id or 0, "flac")
    assert task.webhook_url == URL
    tasks.change_format(deps, task.user_id, task.id or 0, "mp3", webhook_url="https://b.example/")
    assert task.webhook_url == "https://b.example/"
    tasks.change_format(deps, task.user_id, task.id or 0, "wav", webhook_url=None)
    assert task.webhook_url is None


@pytest.mark.parametrize(
    "direct",
    [DirectKey(3, "a" * 32, "mp3", "song.wav"),
     DirectKey(3, "b" * 32, "ogg", "x y.flac", {"quality": "high", "sampleRate": 44100}, 12),
     DirectKey(2**31 - 1, "c" * 32, "m4a", "a.mp3", {"bitrate": 256, "loudness": "-16.5"}, 1)],
)  # fmt: skip
def test_a_direct_uploads_key_reads_back_as_what_was_signed(direct: DirectKey) -> None:
    assert DirectKey.parse(direct.key) == direct


def test_a_direct_upload_can_start_with_the_storage_quota_full(deps: Dependencies) -> None:
    # Its size is not known until it arrives (it is checked then).
    uid = _user(deps)
    upload = deps.settings.data_dir / "full.mp3"
    upload.write_bytes(b"AUDIO 6789")  # 10 bytes, and room for its output: the quota
    bound, _ = tasks.predicted_output(deps, deps.transcoder.probe(upload), 10, "ogg", NO_OPTIONS)
    deps.settings = deps.settings.model_copy(update={"quota_stored_bytes": 10 + bound})
    tasks.create_task(deps, uid, upload, "full.mp3", "ogg")
    assert direct_uploads.start(deps, uid, "b.wav", "mp3").upload_id


def test_a_task_without_a_webhook_leaves_no_attempt_due(deps: Dependencies, upload: Path) -> None:
    task = _finished(deps, upload, url=None)
    assert task.notified_revision == 1 and task.webhook_due_at is None


def test_a_sweep_logs_what_it_republished_and_a_webhook_it_could_not(
    deps: Dependencies, upload: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="audioconv")
    cast(FakeWebhooks, deps.webhooks).outcomes = [Outcome(status=503)]
    task = _finished(deps, upload, url=URL)
    bus = cast(FakeBus, deps.bus)
    *_, (_topic, data, attributes) = bus.published
    webhook_delivery.deliver(
        deps, webhook_delivery.Delivery.from_message(data, attributes), lambda t: {}
    )
    cast(Clock, deps.clock).advance(3600)
    caplog.clear()
    bus.down = True
    assert recovery.sweep(deps) == recovery.SweepResult(0, 0)
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert ("ERROR", f"republishing task {task.id}'s webhook failed; the next sweep will") in said
    assert said[-1] == ("INFO", "sweep republished 0 conversions, 0 notifications, "
                                "0 report passes, 1 webhook attempts")  # fmt: skip


def test_a_sweep_logs_unsent_notifications_it_republished(
    deps: Dependencies, upload: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="audioconv")
    tasks.create_task(deps, _user(deps), upload, "a.mp3", "ogg")
    bus = cast(FakeBus, deps.bus)
    conversion.convert(deps, TaskRef.from_message(bus.published[-1][1]))  # its events are lost
    cast(Clock, deps.clock).advance(3600)
    caplog.clear()
    assert recovery.sweep(deps) == recovery.SweepResult(0, 1, 1)
    assert [r.getMessage() for r in caplog.records] == [
        "sweep republished 0 conversions, 1 notifications, 1 report passes, 0 webhook attempts"
    ]


def test_a_waveform_download_says_its_size_and_name(deps: Dependencies, upload: Path) -> None:
    task = _finished(deps, upload, url=None)
    image = tasks.task_waveform(deps, task.user_id, task.id or 0)
    assert image.key == task.waveform_key and image.mime_type == "image/png"
    assert image.name == "a-waveform.png"
    assert image.size == len(deps.blobs.open_read(task.waveform_key or "").read())


def test_an_id_no_row_can_have_is_not_found(deps: Dependencies) -> None:
    uid = _user(deps)
    for missing in (0, 2**31, -(2**31) - 1):
        with pytest.raises(NotFound, match=f"^no task {missing}$"):
            tasks.get_task(deps, uid, missing)


def test_a_retarget_whose_output_could_not_fit_is_refused_and_changes_nothing(
    deps: Dependencies, upload: Path
) -> None:
    deps.settings = deps.settings.model_copy(update={"max_output_bytes": 200_000})
    task = tasks.create_task(deps, _user(deps), upload, "a.mp3", "ogg")
    # The fake's audio: 1 s at 44.1 kHz, stereo (176,400 bytes as wav, half that in mono).
    with pytest.raises(PayloadTooLarge):
        tasks.change_format(deps, task.user_id, task.id or 0, "wav")
    assert (task.output_format, task.revision) == ("ogg", 1)
    tasks.change_format(deps, task.user_id, task.id or 0, "wav", requested_options({"channels": 1}))
    assert (task.output_format, task.revision) == ("wav", 2)
    assert task.options.as_json() == {"channels": 1}


def test_a_retarget_to_a_stream_copy_counts_the_inputs_size(
    deps: Dependencies, upload: Path
) -> None:
    task = tasks.create_task(deps, _user(deps), upload, "a.mp3", "ogg")
    task.input_bytes = 10**9  # as if the input were that large (a copy can be as large)
    deps.settings = deps.settings.model_copy(update={"max_output_bytes": 10**8})
    with pytest.raises(PayloadTooLarge):
        tasks.change_format(deps, task.user_id, task.id or 0, "mp3")
    assert task.output_format == "ogg"


def test_an_unknown_user_is_refused_even_with_the_dummy_hashs_password(
    deps: Dependencies,
) -> None:
    # Unknown names are checked against a dummy hash (same time as a known one); its
    # password must not let anyone in, and counts as a failure like any other.
    for _ in range(5):
        with pytest.raises(Unauthorized) as refused:
            auth.login(deps, "nobody", "not-a-real-password", "1.2.3.4")
        assert refused.value.message == "invalid username or password"
    with pytest.raises(TooManyRequests, match="too many failed log-ins"):
        for _ in range(50):
            with pytest.raises(Unauthorized):
                auth.login(deps, "nobody", "not-a-real-password", "1.2.3.4")


class _RacingWebhooks(FakeWebhooks):
    """Runs ``during_post`` (what another process does meanwhile) inside the first POST."""

    def __init__(self) -> None:
        super().__init__()
        self.during_post: Callable[[], object] | None = None

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        meanwhile, self.during_post = self.during_post, None
        if meanwhile is not None:
            meanwhile()
        return super().post(url, body, headers)


def _first_delivery(deps: Dependencies, upload: Path) -> tuple[Task, webhook_delivery.Delivery]:
    deps.webhooks = _RacingWebhooks()
    task = _finished(deps, upload, url=URL)
    *_, (_topic, data, attributes) = cast(FakeBus, deps.bus).published
    return task, webhook_delivery.Delivery.from_message(data, attributes)


def test_an_attempt_whose_copy_was_recorded_meanwhile_is_recorded_once(
    deps: Dependencies, upload: Path
) -> None:
    task, first = _first_delivery(deps, upload)
    sender = cast(_RacingWebhooks, deps.webhooks)
    sender.during_post = lambda: webhook_delivery.deliver(deps, first, lambda t: {})
    webhook_delivery.deliver(deps, first, lambda t: {})
    assert [a.attempt for a in task.webhook_deliveries] == [1]


def test_an_attempt_at_a_task_deleted_meanwhile_records_nothing(
    deps: Dependencies, upload: Path
) -> None:
    task, first = _first_delivery(deps, upload)
    sender = cast(_RacingWebhooks, deps.webhooks)
    sender.during_post = lambda: tasks.delete_task(deps, task.user_id, task.id or 0)
    webhook_delivery.deliver(deps, first, lambda t: {})
    assert len(sender.posts) == 1 and tasks.list_tasks(deps, task.user_id, None, False) == []


def test_an_inputs_cover_art_counts_in_the_output_size_check(
    deps: Dependencies, tmp_path: Path
) -> None:
    # flac of the fake's audio (lossy: 16-bit): 1 s at 44.1 kHz, stereo: about 244 kB;
    # the cover art carried over may take as much as the input itself (100 kB here).
    deps.settings = deps.settings.model_copy(update={"max_output_bytes": 300_000})
    uid = _user(deps)
    upload = tmp_path / "big.mp3"
    upload.write_bytes(b"AUDIO" + bytes(100_000))
    assert tasks.create_task(deps, uid, upload, "a.mp3", "flac").output_format == "flac"
    cast(FakeTranscoder, deps.transcoder).picture = Picture("mjpeg", 600, 600)
    with pytest.raises(PayloadTooLarge):
        tasks.create_task(deps, uid, upload, "b.mp3", "flac")


def test_the_output_size_check_uses_the_inputs_rate_channels_and_codec(
    deps: Dependencies, tmp_path: Path
) -> None:
    # The fake's audio: 1 s of mp3 at 44.1 kHz. As wav: 176,400 bytes in stereo (at the
    # 48 kHz assumed when a probe says nothing, 192,000), 88,200 in mono.
    uid = _user(deps)
    upload = tmp_path / "big.mp3"
    upload.write_bytes(b"AUDIO" + bytes(100_000))
    deps.settings = deps.settings.model_copy(update={"max_output_bytes": 250_000})
    assert tasks.create_task(deps, uid, upload, "a.mp3", "wav").output_format == "wav"
    deps.settings = deps.settings.model_copy(update={"max_output_bytes": 200_000})
    cast(FakeTranscoder, deps.transcoder).channels = 1
    assert tasks.create_task(deps, uid, upload, "b.mp3", "wav").output_format == "wav"
    # mp3 to mp3 may be a stream copy: as large as the input (100 kB), not 40 kB.
    deps.settings = deps.settings.model_copy(update={"max_output_bytes": 150_000})
    with pytest.raises(PayloadTooLarge):
        tasks.create_task(deps, uid, upload, "c.mp3", "mp3")
