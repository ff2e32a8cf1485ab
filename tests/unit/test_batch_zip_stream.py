"""A batch's ZIP as it is streamed: its size is known without reading a member, each
member is the file opened when the archive was made, and only converted files are in."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import IO

import pytest

from audioconv.domain.model import TaskStatus
from audioconv.services import batch_zip
from audioconv.services.dependencies import Dependencies
from tests.unit.batches_on_fakes import ANN, convert, unzipped, upload_batch


def test_the_size_is_known_before_any_member_is_read(deps: Dependencies, tmp_path: Path) -> None:
    batch_id, tasks = upload_batch(deps, tmp_path, ["a.mp3", "b.mp3"])
    for task in tasks:
        convert(deps, task)
    made = batch_zip.batch_zip(deps, ANN, batch_id)
    stream = made.stream(deps.blobs)
    size = len(stream)  # the Content-Length, sent before the first byte
    assert all(m.source is not None and m.source.tell() == 0 for m in made.members)
    assert len(b"".join(stream)) == size


def test_a_file_replaced_after_the_archive_was_made_is_still_sent_whole(
    deps: Dependencies, tmp_path: Path
) -> None:
    batch_id, (task,) = upload_batch(deps, tmp_path, ["a.mp3"])
    convert(deps, task)
    key = task.output_key or ""
    sent = deps.blobs.open_read(key).read()
    made = batch_zip.batch_zip(deps, ANN, batch_id)
    deps.blobs.delete(key)  # a convert-again replaced it meanwhile
    manifest, contents = unzipped(deps, made)
    assert contents == {"a.ogg": sent}
    assert manifest["files"][0]["bytes"] == len(sent)


def test_a_member_without_an_opened_file_is_read_from_the_store_when_reached(
    deps: Dependencies, tmp_path: Path
) -> None:
    _, (task,) = upload_batch(deps, tmp_path, ["a.mp3"])
    convert(deps, task)
    key = task.output_key or ""
    data = deps.blobs.open_read(key).read()
    made = batch_zip.BatchZip("x.zip", (batch_zip.Member("a.ogg", key, len(data)),), {})
    with zipfile.ZipFile(io.BytesIO(b"".join(made.stream(deps.blobs)))) as archive:
        assert archive.read("a.ogg") == data


def test_a_file_gone_between_its_size_and_its_opening_is_pending(
    deps: Dependencies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch_id, (task,) = upload_batch(deps, tmp_path, ["a.mp3"])
    convert(deps, task)

    def gone(key: str) -> IO[bytes]:
        raise KeyError(key)

    monkeypatch.setattr(deps.blobs, "open_read", gone)
    made = batch_zip.batch_zip(deps, ANN, batch_id)
    assert made.members == ()
    assert made.manifest["files"] == []
    assert [p["note"] for p in made.manifest["pending"]] == ["its converted file is being replaced"]


def test_a_task_that_failed_after_converting_is_listed_as_failed_not_zipped(
    deps: Dependencies, tmp_path: Path
) -> None:
    batch_id, (task,) = upload_batch(deps, tmp_path, ["a.mp3"])
    convert(deps, task)
    assert task.output_key
    # A failed task that still names an output (as rows from before the transition
    # table could): the ZIP goes by the status, not by the key.
    task.status, task.error = TaskStatus.FAILED, "the report found it undecodable"
    made = batch_zip.batch_zip(deps, ANN, batch_id)
    assert made.members == ()
    assert made.manifest["failed"] == [
        {"taskId": task.id, "fileName": "a.mp3", "error": "the report found it undecodable"}
    ]


def test_close_closes_every_opened_member(deps: Dependencies, tmp_path: Path) -> None:
    batch_id, tasks = upload_batch(deps, tmp_path, ["a.mp3", "b.mp3"])
    for task in tasks:
        convert(deps, task)
    made = batch_zip.batch_zip(deps, ANN, batch_id)
    sources = [m.source for m in made.members]
    assert len(sources) == 2 and not any(s is None or s.closed for s in sources)
    made.close()
    assert all(s is not None and s.closed for s in sources)
