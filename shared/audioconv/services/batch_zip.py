"""One ZIP of a batch's converted files, streamed as it is read, with a manifest.

Nothing is held whole: each member is opened when the archive is made (so a file
replaced by a convert-again during the download is still sent whole from local disk),
and read from the blob store (local disk or Cloud Storage) in chunks only when the
client has taken everything before it, and the
files are stored, not deflated (audio does not compress), so the archive's size is
known before the first byte (``Content-Length``). ZIP64 is used only when needed.
The archive is there while tasks are still pending or have failed:
``manifest.json`` says which files are in, which failed (and why), which are pending.
Beside it, ``playlist.m3u8`` lists the files in track order; the files are named flat,
or laid out ``Artist/Album/01 Title.ext`` (domain/album_layout.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from zipstream import ZIP_STORED, ZipStream

from audioconv.domain.album_layout import (
    PLAYLIST,
    Layout,
    TrackInfo,
    album_path,
    playlist,
    unique_paths,
)
from audioconv.domain.batch import unique_names
from audioconv.domain.model import Task, TaskStatus
from audioconv.http_files import iter_chunks
from audioconv.ports import BlobStore
from audioconv.services import batches
from audioconv.services.dependencies import Dependencies
from audioconv.services.tasks import safe_file_name

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Member:
    """A converted file in the archive: its unique name, blob and size, and the blob
    opened when the archive was made (``source``)."""

    name: str
    key: str
    size: int
    source: IO[bytes] | None = None


@dataclass(frozen=True)
class BatchZip:
    file_name: str  # what the download is called
    members: tuple[Member, ...]
    manifest: dict[str, Any]
    playlist: str = ""  # the extended M3U of the members, in track order

    def stream(self, blobs: BlobStore) -> ZipStream:
        """The archive, ready to iterate (``len()`` is its size in bytes)."""
        # ZIP_STORED is also zipstream's default, and any false ensure_ascii keeps the
        # accents: said, not relied on (equivalent mutants).
        archive = ZipStream(compress_type=ZIP_STORED, sized=True)  # pragma: no mutate
        manifest = json.dumps(self.manifest, indent=2, ensure_ascii=False)  # pragma: no mutate
        archive.add(manifest + "\n", MANIFEST)
        archive.add(self.playlist.encode(), PLAYLIST)
        for member in self.members:
            archive.add(_chunks(blobs, member), member.name, size=member.size)
        return archive

    def close(self) -> None:
        """Close the members' blobs (an archive that will not be sent)."""
        for member in self.members:
            if member.source is not None:
                member.source.close()


def _chunks(blobs: BlobStore, member: Member) -> Iterator[bytes]:
    """The blob's bytes: from the file opened when the archive was made (a file the
    local store deletes meanwhile, a convert-again having replaced it, stays readable
    through it), else opened when the archive reaches it."""
    with member.source or blobs.open_read(member.key) as stream:
        yield from iter_chunks(stream)


def batch_zip(deps: Dependencies, user_id: int, batch_id: int, layout: Layout = "flat") -> BatchZip:
    """What the ZIP of the user's batch holds now (NotFound if it is not theirs), its
    files named as ``layout`` says."""
    view = batches.get_batch(deps, user_id, batch_id)
    files, failed, pending, present = [], [], [], []
    for task in view.tasks:
        if task.status is TaskStatus.PROCESSED and task.output_key:
            size = deps.blobs.size(task.output_key)
            # A blob without a size cannot be opened either (an equivalent mutant).
            # pragma: no mutate start
            source = _opened(deps.blobs, task.output_key) if size is not None else None
            # pragma: no mutate end
            if size is not None and source is not None:
                present.append((task, task.output_key, size, source))
                continue
            # Converted again (or deleted) since the tasks were read: not there to send.
            pending.append(
                _entry(task)
                | {
                    "status": task.status.value,
                    "progress": 100.0,
                    "note": "its converted file is being replaced",
                }
            )
        elif task.status is TaskStatus.FAILED:
            failed.append(_entry(task) | {"error": task.error})
        else:
            pending.append(_entry(task) | {"status": task.status.value, "progress": task.progress})
    tracks = [_track(task, n) for n, (task, *_) in enumerate(present)]
    if layout == "album":
        names = unique_paths((album_path(t) for t in tracks), taken=[MANIFEST, PLAYLIST])
    else:
        names = unique_names((t.file_name for t in tracks), taken=[MANIFEST, PLAYLIST])
    members = []
    for (task, key, size, source), name in zip(present, names, strict=True):  # pragma: no mutate
        members.append(Member(name, key, size, source))
        entry = {"name": name, **_entry(task), "format": task.output_format, "bytes": size}
        if task.album_gain_due:  # in, but its album's gain tags are still to be written
            entry["albumGain"] = "due"
        files.append(entry)
    batch = view.batch
    manifest = {
        "batch": {"id": batch.id, "name": batch.name, "createdAt": batch.created_at.isoformat()},
        "madeAt": deps.clock().isoformat(),
        "layout": layout,
        "playlist": PLAYLIST,
        "progress": view.progress.as_json(),
        "files": files,
        "failed": failed,
        "pending": pending,
    }
    label = safe_file_name(batch.name) if batch.name else f"batch-{batch.id}"
    made = playlist(list(zip(names, tracks, strict=True)))
    return BatchZip(f"{label}.zip", tuple(members), manifest, made)


def _track(task: Task, position: int) -> TrackInfo:
    """What the layout and the playlist read of a converted task: the input's tags
    (what the output carries over), the output's length."""
    tags = task.input_probe.tags if task.input_probe else {}
    seconds = task.output_probe.duration if task.output_probe else None
    return TrackInfo(task.output_name, tags, float(seconds) if seconds else None, position)


def _opened(blobs: BlobStore, key: str) -> IO[bytes] | None:
    """The blob, open for reading now (None if it is gone): every member is opened
    before the first byte is sent, so the archive the headers promise is the one sent
    (issue 18: a convert-again during a download cut the ZIP mid-stream)."""
    try:
        return blobs.open_read(key)
    except KeyError:
        return None


def _entry(task: Task) -> dict[str, Any]:
    return {"taskId": task.id, "fileName": task.file_name}
