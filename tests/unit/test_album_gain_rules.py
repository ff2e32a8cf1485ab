"""Album gain on fakes, what test_gain.py leaves out: where a retagged output is
stored and what is recorded of it, and an album whose output went away meanwhile."""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

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
