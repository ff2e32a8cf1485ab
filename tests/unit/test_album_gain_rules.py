"""Album gain on fakes, what test_gain.py leaves out: where a retagged output is
stored and what is recorded of it, and an album whose output went away meanwhile."""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import pytest

from audioconv.domain.model import Task
from audioconv.domain.options import ConversionOptions
from audioconv.services import album_gain, batches, conversion, tasks
from audioconv.services.batches import Upload
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.unit.fakes import FakeBlobs, user_id


def _album(deps: Dependencies, tmp_path: Path, uid: int, tracks: int) -> list[Task]:
    files = []
    for n in range(tracks):
        path = tmp_path / f"spool-{n}"
        path.write_bytes(b"AUDIO " + b"x" * (n + 1))
        files.append(Upload(path, f"{n + 1:02d} track.wav"))
    view = batches.upload_files(deps, uid, files, "opus", ConversionOptions(gain="album"))
    return list(view.tasks)


def test_a_retagged_output_is_stored_beside_the_first_with_its_type_and_size(
    deps: Dependencies, tmp_path: Path
) -> None:
    uid = user_id(deps)
    album = _album(deps, tmp_path, uid, 2)
    conversion.convert(deps, TaskRef.of(album[0]))
    first = album[0].output_key or ""
    conversion.convert(deps, TaskRef.of(album[1]))  # the last track: the album is measured
    blobs = cast(FakeBlobs, deps.blobs)
    assert first not in blobs.files  # replaced by its retagged copy
    for task in album:
        done = tasks.get_task(deps, uid, task.id or 0)
        key = done.output_key or ""
        claim = rf"outputs/{task.id}/r1/[0-9a-f]{{32}}"
        assert re.fullmatch(rf"{claim}/album-[0-9a-f]{{12}}/{done.output_name}", key), key
        assert blobs.content_types[key] == "audio/ogg; codecs=opus"
        assert done.output_bytes == len(blobs.files[key])
    assert album_gain.settle(deps, album[0].batch_id or 0) == 0  # nothing is due any more


def test_an_output_gone_meanwhile_leaves_the_album_due_and_nothing_stored(
    deps: Dependencies, tmp_path: Path
) -> None:
    uid = user_id(deps)
    first, last = _album(deps, tmp_path, uid, 2)
    conversion.convert(deps, TaskRef.of(first))
    blobs = cast(FakeBlobs, deps.blobs)
    del blobs.files[first.output_key or ""]  # as if replaced while the album is measured
    conversion.convert(deps, TaskRef.of(last))
    assert tasks.get_task(deps, uid, last.id or 0).album_gain_due
    assert album_gain.settle(deps, first.batch_id or 0) == 0
    assert not any("/album-" in key for key in blobs.files)


def test_a_level_change_without_gain_removes_the_sources_gain_tags(
    deps: Dependencies, tmp_path: Path
) -> None:
    uid = user_id(deps)
    source = tmp_path / "tagged"
    source.write_bytes(b"AUDIO samples|gain 1.5 2.5")  # the fake's gain tags at the end
    blobs = cast(FakeBlobs, deps.blobs)
    louder = tasks.create_task(deps, uid, source, "a.flac", "mp3", ConversionOptions(loudness=-16))
    kept = tasks.create_task(deps, uid, source, "b.flac", "mp3")
    untagged = tasks.create_task(
        deps, uid, source, "c.flac", "wav", ConversionOptions(loudness=-16)
    )
    for task in (louder, kept, untagged):
        conversion.convert(deps, TaskRef.of(task))
    assert blobs.files[louder.output_key or ""] == b"AUDIO mp3 AUDIO samples"
    assert blobs.files[kept.output_key or ""].endswith(b"|gain 1.5 2.5")
    assert blobs.files[untagged.output_key or ""].endswith(b"|gain 1.5 2.5")  # WAV has none


def test_the_sweep_counts_the_albums_it_settled(
    deps: Dependencies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = user_id(deps)
    albums = [_album(deps, tmp_path, uid, 2) for _ in range(2)]
    with monkeypatch.context() as dying:  # every album's last worker dies before settling
        dying.setattr(album_gain, "settle", lambda deps, batch_id: 1 / 0)
        for task in (t for album in albums for t in album):
            conversion.convert(deps, TaskRef.of(task))
    assert album_gain.settle_due(deps) == 2
    assert album_gain.settle_due(deps) == 0
