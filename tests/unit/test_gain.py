"""Gain tags: BS.1770 gating, ReplayGain 2.0 and R128 figures, the ``gain`` option, and
album gain written once the batch's last track is finished (services on fakes)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import cast

import pytest

from audioconv.domain.errors import InvalidInput
from audioconv.domain.formats import FORMATS
from audioconv.domain.gain import Gain, Measured, album_gain, gated_loudness, q78, track_gain
from audioconv.domain.model import TaskStatus
from audioconv.domain.options import ConversionOptions, parse_options
from audioconv.services import album_gain as album_service
from audioconv.services import batches, conversion, recovery, tasks
from audioconv.services.batches import Upload
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.unit.fakes import FakeBlobs, FakeTranscoder

ANN = 1


def energy(lufs: float) -> float:
    return float(10 ** ((lufs + 0.691) / 10))


def test_gating_leaves_out_silence_and_blocks_10_lu_below_the_mean() -> None:
    assert gated_loudness([-20.0] * 8) == pytest.approx(-20.0)
    # -40 is under the relative gate (~-23 - 10 LU); -80 under the absolute one.
    assert gated_loudness([-20.0] * 8 + [-40.0] * 8 + [-80.0] * 50) == pytest.approx(-20.0)
    assert gated_loudness([-80.0, -120.7]) is None
    assert gated_loudness([]) is None


def test_album_loudness_gates_all_blocks_together_not_the_average_of_tracks() -> None:
    loud, quiet = Measured((-20.0,) * 10, 0.9), Measured((-26.0,) * 30, 0.3)
    album = album_gain([loud, quiet])
    assert album is not None
    expected = -0.691 + 10 * math.log10((10 * energy(-20) + 30 * energy(-26)) / 40)
    assert album.track_loudness == pytest.approx(expected)
    assert album.track_loudness != pytest.approx(-23.0)  # the tracks' mean
    assert album.track_peak == 0.9  # the loudest track's
    assert album_gain([Measured((-90.0,), 0.0)]) is None


def test_replaygain_is_relative_to_minus_18_and_r128_is_q78_relative_to_minus_23() -> None:
    gain = Gain(-25.157, 0.171, -27.99, 0.5)
    assert gain.track_gain == 7.16 and gain.album_gain == 9.99
    assert gain.r128_track == round(2.157 * 256) == 552
    assert gain.r128_album == round(4.99 * 256)
    assert q78(-200.0) == -32768 and q78(200.0) == 32767
    assert Gain(-10.0, 1.0).as_json() == {"trackGain": -8.0, "trackPeak": 1.0,
                                          "trackLoudness": -10.0}  # fmt: skip
    assert Gain(-10.0, 1.0).r128_album is None
    assert track_gain(Measured((-90.0,), 0.0)) is None


@pytest.mark.parametrize("target", ["mp3", "flac", "ogg", "opus", "m4a", "alac"])
def test_gain_is_taken_for_formats_with_a_convention(target: str) -> None:
    assert parse_options({"gain": "Album "}, FORMATS[target]).gain == "album"
    assert parse_options({"gain": "track"}, FORMATS[target]).as_json() == {"gain": "track"}


@pytest.mark.parametrize("target", ["wav", "aiff", "wma", "aac"])
def test_gain_is_refused_for_formats_without_one(target: str) -> None:
    with pytest.raises(ValueError, match=f"{target} has no convention for gain tags"):
        parse_options({"gain": "track"}, FORMATS[target])


def test_an_unknown_gain_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="gain must be one of track, album"):
        parse_options({"gain": "loud"}, FORMATS["mp3"])


# --- the services, on fakes -----------------------------------------------------------


def transcoder(deps: Dependencies) -> FakeTranscoder:
    return cast(FakeTranscoder, deps.transcoder)


def convert_all(deps: Dependencies, ids: list[int]) -> None:
    for task_id in ids:
        conversion.convert(deps, TaskRef(task_id, 1))


def album(deps: Dependencies, tmp_path: Path, contents: list[bytes]) -> list[int]:
    files = []
    for n, content in enumerate(contents):
        path = tmp_path / f"spool-{n}"
        path.write_bytes(content)
        files.append(Upload(path, f"{n + 1:02d} track.wav"))
    view = batches.upload_files(deps, ANN, files, "flac", ConversionOptions(gain="album"))
    return [t.id or 0 for t in view.tasks]


def stored(deps: Dependencies, task_id: int) -> bytes:
    task = tasks.get_task(deps, ANN, task_id)
    assert task.output_key is not None
    return cast(FakeBlobs, deps.blobs).files[task.output_key]


def test_track_gain_is_written_before_the_output_is_stored(
    deps: Dependencies, upload: Path
) -> None:
    task = tasks.create_task(deps, ANN, upload, "song.wav", "mp3", ConversionOptions(gain="track"))
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    done = tasks.get_task(deps, ANN, task.id or 0)
    assert done.status is TaskStatus.PROCESSED and not done.album_gain_due
    # The fake's loudness of "AUDIO mp3 AUDIO some samples": -30 + 28 % 10 = -22 LUFS.
    assert done.output_probe is not None and done.output_probe.gain.track_gain == 4.0
    assert stored(deps, task.id or 0) == b"AUDIO mp3 AUDIO some samples|gain 4.0 None"


def test_album_gain_needs_a_batch(deps: Dependencies, upload: Path) -> None:
    with pytest.raises(InvalidInput, match="upload them as a batch"):
        tasks.create_task(deps, ANN, upload, "song.wav", "mp3", ConversionOptions(gain="album"))


def test_album_tags_wait_for_the_last_track_then_cover_the_whole_album(
    deps: Dependencies, tmp_path: Path
) -> None:
    ids = album(deps, tmp_path, [b"AUDIO a", b"AUDIO bbbb", b"AUDIO SILENCE"])
    convert_all(deps, ids[:2])
    first = tasks.get_task(deps, ANN, ids[0])
    assert first.album_gain_due and stored(deps, ids[0]).endswith(b"None")  # track only
    convert_all(deps, ids[2:])
    # The fake's loudness: -30 + (bytes converted mod 10); one track is silence.
    louds = [-30.0 + len(b"AUDIO flac AUDIO a") % 10, -30.0 + len(b"AUDIO flac AUDIO bbbb") % 10]
    expected = round(-18.0 - (-0.691 + 10 * math.log10(sum(energy(x) for x in louds) / 2)), 2)
    for task_id, loud in zip(ids[:2], louds, strict=True):
        done = tasks.get_task(deps, ANN, task_id)
        assert not done.album_gain_due
        assert done.output_probe is not None
        assert done.output_probe.gain.album_gain == expected
        assert stored(deps, task_id).endswith(f"|gain {-18.0 - loud} {expected}".encode())
    silent = tasks.get_task(deps, ANN, ids[2])
    assert not silent.album_gain_due and (
        silent.output_probe is None or silent.output_probe.gain is None
    )
    # Only the files the tasks refer to are stored: the retagged ones replaced the first.
    keys = {tasks.get_task(deps, ANN, i).output_key for i in ids}
    assert {k for k in cast(FakeBlobs, deps.blobs).files if k.startswith("outputs/")} == keys


def test_a_failed_track_finishes_the_album_without_it(deps: Dependencies, tmp_path: Path) -> None:
    ids = album(deps, tmp_path, [b"AUDIO a", b"AUDIO b"])
    convert_all(deps, ids[:1])
    transcoder(deps).fail_with = "broken"
    convert_all(deps, ids[1:])
    done = tasks.get_task(deps, ANN, ids[0])
    assert done.output_probe is not None and done.output_probe.gain.album_gain is not None
    assert not done.album_gain_due


def test_the_sweep_finishes_an_album_whose_last_worker_died(
    deps: Dependencies, tmp_path: Path
) -> None:
    ids = album(deps, tmp_path, [b"AUDIO a", b"AUDIO b"])

    def dies(deps: Dependencies, batch_id: int) -> int:
        raise RuntimeError("killed")

    settle = album_service.settle
    album_service.settle = dies  # type: ignore[assignment]
    try:
        convert_all(deps, ids)
    finally:
        album_service.settle = settle  # type: ignore[assignment]
    assert all(tasks.get_task(deps, ANN, i).album_gain_due for i in ids)
    recovery.sweep(deps, grace_seconds=0)
    for task_id in ids:
        done = tasks.get_task(deps, ANN, task_id)
        assert not done.album_gain_due
        assert done.output_probe is not None and done.output_probe.gain.album_gain is not None
    assert album_service.settle(deps, tasks.get_task(deps, ANN, ids[0]).batch_id or 0) == 0


def test_a_direct_upload_with_album_gain_needs_a_batch_before_any_url_is_given(
    deps: Dependencies,
) -> None:
    from audioconv.domain.options import requested_options
    from audioconv.services import direct_uploads

    with pytest.raises(InvalidInput, match="upload them as a batch"):
        direct_uploads.start(deps, ANN, "a.flac", "mp3", requested_options({"gain": "album"}))
    batch = batches.create_batch(deps, ANN)
    ticket = direct_uploads.start(
        deps, ANN, "a.flac", "mp3", requested_options({"gain": "album"}), batch_id=batch.id
    )
    assert ticket.url


def test_a_zip_made_before_the_album_gain_says_so(deps: Dependencies, tmp_path: Path) -> None:
    from audioconv.services import batch_zip

    ids = album(deps, tmp_path, [b"AUDIO a", b"AUDIO b"])
    convert_all(deps, ids[:1])
    batch_id = tasks.get_task(deps, ANN, ids[0]).batch_id or 0
    early = batch_zip.batch_zip(deps, ANN, batch_id, "album")
    assert [f.get("albumGain") for f in early.manifest["files"]] == ["due"]
    early.close()
    convert_all(deps, ids[1:])
    made = batch_zip.batch_zip(deps, ANN, batch_id)
    assert [f.get("albumGain") for f in made.manifest["files"]] == [None, None]
    made.close()
