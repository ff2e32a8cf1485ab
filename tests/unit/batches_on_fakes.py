"""A batch on fakes of every port, for the ZIP tests: uploaded, converted, unzipped."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from audioconv.domain.model import Task
from audioconv.services import batch_zip, batches, conversion
from audioconv.services.batches import Upload
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef

ANN, BOB = 1, 2


def upload_batch(deps: Dependencies, tmp_path: Path, names: list[str], name: str | None = None
                 ) -> tuple[int, list[Task]]:  # fmt: skip
    batch = batches.create_batch(deps, ANN, name)
    files = []
    for n, file_name in enumerate(names):
        path = tmp_path / f"spool-{n}"
        path.write_bytes(b"AUDIO " + file_name.encode())
        files.append(Upload(path, file_name))
    view = batches.upload_files(deps, ANN, files, "ogg", batch_id=batch.id)
    assert batch.id is not None
    return batch.id, list(view.tasks)


def convert(deps: Dependencies, task: Task) -> None:
    assert task.id is not None
    conversion.convert(deps, TaskRef(task.id, task.revision))


def unzipped(
    deps: Dependencies, made: batch_zip.BatchZip
) -> tuple[dict[str, Any], dict[str, bytes]]:
    stream = made.stream(deps.blobs)
    size = len(stream)
    data = b"".join(stream)
    assert len(data) == size  # the Content-Length sent before the first byte is the truth
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
        contents = {name: archive.read(name) for name in archive.namelist()}
    contents.pop("playlist.m3u8")  # tests/unit/test_album_layout.py
    return json.loads(contents.pop("manifest.json")), contents
