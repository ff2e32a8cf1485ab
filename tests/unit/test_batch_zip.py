"""A batch's ZIP on fakes of every port: what the archive holds, what its manifest says
of the files in it, the failed and the pending ones, and what the download is called."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from audioconv.domain.errors import NotFound
from audioconv.services import batch_zip
from audioconv.services.dependencies import Dependencies
from tests.unit.batches_on_fakes import ANN, BOB, convert, unzipped, upload_batch


def test_the_zip_holds_the_converted_files_under_unique_names_and_a_manifest(
    deps: Dependencies, tmp_path: Path
) -> None:
    batch_id, (a, b, c) = upload_batch(deps, tmp_path, ["song.mp3", "Song.wav", "x.mp3"], "Live")
    for task in (a, b, c):
        convert(deps, task)
    made = batch_zip.batch_zip(deps, ANN, batch_id)
    assert made.file_name == "Live.zip"
    manifest, contents = unzipped(deps, made)
    assert contents == {"song.ogg": deps.blobs.open_read(a.output_key or "").read(),
                        "Song (2).ogg": deps.blobs.open_read(b.output_key or "").read(),
                        "x.ogg": deps.blobs.open_read(c.output_key or "").read()}  # fmt: skip
    assert contents["song.ogg"].startswith(b"AUDIO ogg")
    assert manifest["batch"] == {"id": batch_id, "name": "Live",
                                 "createdAt": deps.clock().isoformat()}  # fmt: skip
    assert manifest["madeAt"] == deps.clock().isoformat()
    assert manifest["files"] == [
        {"name": "song.ogg", "taskId": a.id, "fileName": "song.mp3", "format": "ogg",
         "bytes": len(contents["song.ogg"])},
        {"name": "Song (2).ogg", "taskId": b.id, "fileName": "Song.wav", "format": "ogg",
         "bytes": len(contents["Song (2).ogg"])},
        {"name": "x.ogg", "taskId": c.id, "fileName": "x.mp3", "format": "ogg",
         "bytes": len(contents["x.ogg"])},
    ]  # fmt: skip
    assert manifest["failed"] == [] and manifest["pending"] == []
    assert manifest["progress"]["done"] == 1.0 and manifest["progress"]["processed"] == 3


def test_the_manifest_says_which_files_failed_and_which_are_pending(
    deps: Dependencies, tmp_path: Path
) -> None:
    batch_id, (done, failed, pending) = upload_batch(deps, tmp_path, ["a.mp3", "b.mp3", "c.mp3"])
    convert(deps, done)
    failed.fail("could not decode", deps.clock())
    pending.progress = 40.0
    made = batch_zip.batch_zip(deps, ANN, batch_id)
    assert made.file_name == f"batch-{batch_id}.zip"
    manifest, contents = unzipped(deps, made)
    assert list(contents) == ["a.ogg"]
    assert manifest["failed"] == [
        {"taskId": failed.id, "fileName": "b.mp3", "error": "could not decode"}
    ]
    assert manifest["pending"] == [
        {"taskId": pending.id, "fileName": "c.mp3", "status": "uploaded", "progress": 40.0}
    ]
    assert manifest["batch"]["name"] is None
    assert manifest["progress"] == {"total": 3, "uploaded": 1, "processing": 0,
                                    "processed": 1, "failed": 1, "done": 0.6667}  # fmt: skip


def test_a_converted_file_replaced_meanwhile_is_pending_not_in_the_zip(
    deps: Dependencies, tmp_path: Path
) -> None:
    batch_id, (task,) = upload_batch(deps, tmp_path, ["a.mp3"])
    convert(deps, task)
    deps.blobs.delete(task.output_key or "")
    manifest, contents = unzipped(deps, batch_zip.batch_zip(deps, ANN, batch_id))
    assert contents == {} and manifest["files"] == []
    assert manifest["pending"] == [{"taskId": task.id, "fileName": "a.mp3", "status": "processed",
                                    "progress": 100.0,
                                    "note": "its converted file is being replaced"}]  # fmt: skip


def test_a_zip_named_after_its_batch_gets_a_safe_file_name(
    deps: Dependencies, tmp_path: Path
) -> None:
    batch_id, _ = upload_batch(deps, tmp_path, ["a.mp3"], "../my/live: set.")
    assert batch_zip.batch_zip(deps, ANN, batch_id).file_name == "live_ set.zip"


def test_someone_elses_batch_has_no_zip(deps: Dependencies, tmp_path: Path) -> None:
    batch_id, _ = upload_batch(deps, tmp_path, ["a.mp3"])
    with pytest.raises(NotFound, match=f"no batch {batch_id}"):
        batch_zip.batch_zip(deps, BOB, batch_id)


def test_the_manifest_is_readable_json_keeping_accented_names(
    deps: Dependencies, tmp_path: Path
) -> None:
    batch_id, _ = upload_batch(deps, tmp_path, ["Café.mp3"], "Été")
    data = b"".join(batch_zip.batch_zip(deps, ANN, batch_id).stream(deps.blobs))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        text = archive.read("manifest.json").decode()
    assert text.startswith('{\n  "batch": {\n    "id": ') and text.endswith("}\n")
    assert '"name": "Été"' in text and '"fileName": "Café.mp3"' in text
