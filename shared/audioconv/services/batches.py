"""Batches: creating them, uploading several files into one, and their progress.

A multi-file upload checks everything the files share (format, options, the batch,
the quota for all of them together) before it stores anything: any of those wrong
refuses the whole request. Then each file is checked and stored on its own, like a
single upload; a file that is refused (not audio, too long, over the quota by the
time it is stored) becomes a ``failed`` task in the batch with the reason, and none
of its bytes are kept. So every file sent has a task that says what became of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from audioconv.domain.batch import Batch, BatchProgress
from audioconv.domain.errors import AudioconvError, NotFound
from audioconv.domain.model import Task, valid_id
from audioconv.domain.options import ConversionOptions
from audioconv.ports import UnitOfWork
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import announce_finished
from audioconv.services.tasks import (
    BatchGone,
    check_quota,
    checked_options,
    create_task,
    record_task,
    safe_file_name,
    stored_files,
    target_format,
)


@dataclass(frozen=True)
class BatchView:
    """A batch with its tasks (``tasks`` empty in listings) and their progress."""

    batch: Batch
    progress: BatchProgress
    tasks: Sequence[Task] = ()


def owned_batch(uow: UnitOfWork, user_id: int, batch_id: int, for_update: bool = False) -> Batch:
    """The user's batch; NotFound for one that is missing or someone else's."""
    batch = uow.batches.get(batch_id, for_update=for_update) if valid_id(batch_id) else None
    if batch is None or batch.user_id != user_id:
        raise NotFound(f"no batch {batch_id}")
    return batch


def check_batch(deps: Dependencies, user_id: int, batch_id: int | None) -> None:
    """NotFound unless ``batch_id`` (when given) is one of the user's batches."""
    if batch_id is not None:
        with deps.uow(readonly=True) as uow:
            owned_batch(uow, user_id, batch_id)


def create_batch(deps: Dependencies, user_id: int, name: str | None = None) -> Batch:
    with deps.uow() as uow:
        batch = Batch(user_id=user_id, name=name, created_at=deps.clock())
        uow.batches.add(batch)
        uow.commit()
    return batch


def delete_batch(deps: Dependencies, user_id: int, batch_id: int) -> None:
    """Remove the batch and every task in it, then their files (a crash in between
    leaves only orphan files, which the start-up sweep removes)."""
    with deps.uow() as uow:
        batch = owned_batch(uow, user_id, batch_id, for_update=True)
        keys = []
        for task in uow.batches.tasks(batch_id):
            keys += stored_files(task)
            uow.tasks.delete(task)
        uow.batches.delete(batch)
        uow.commit()
    for key in keys:
        deps.blobs.delete(key)


def get_batch(deps: Dependencies, user_id: int, batch_id: int) -> BatchView:
    with deps.uow(readonly=True) as uow:
        batch = owned_batch(uow, user_id, batch_id)
        found = uow.batches.tasks(batch_id)
    return BatchView(batch, BatchProgress.of(t.status for t in found), found)


def list_batches(deps: Dependencies, user_id: int) -> list[BatchView]:
    """The user's batches, oldest first, each with its progress (not its tasks)."""
    with deps.uow(readonly=True) as uow:
        found = uow.batches.for_user(user_id)
        counts = uow.batches.status_counts([b.id for b in found if b.id is not None])
    return [BatchView(b, BatchProgress.counted(counts.get(b.id or 0, {}))) for b in found]


@dataclass(frozen=True)
class Upload:
    """One file of a multi-file upload, spooled on the data disk."""

    path: Path
    file_name: str


def upload_files(
    deps: Dependencies,
    user_id: int,
    files: Sequence[Upload],
    new_format: str,
    options: ConversionOptions | None = None,
    batch_id: int | None = None,
    webhook_url: str | None = None,
) -> BatchView:
    """Make a task of each file in ``batch_id`` (a new batch if None); see the module doc.

    The spool files are taken (moved into the store) or left for the caller to remove.
    """
    target = target_format(new_format)
    checked_options(options, target)
    check_batch(deps, user_id, batch_id)
    total = sum(f.path.stat().st_size for f in files)
    with deps.uow(readonly=True) as uow:
        check_quota(deps, uow, user_id, total, count=len(files))
    if batch_id is None:
        batch_id = create_batch(deps, user_id).id
    for file in files:
        try:
            create_task(deps, user_id, file.path, file.file_name, new_format, options,
                        take_file=True, batch_id=batch_id, webhook_url=webhook_url)  # fmt: skip
        except BatchGone:  # deleted meanwhile, with the tasks made so far: 404
            raise
        except AudioconvError as exc:
            record_refused(deps, user_id, file, target, options, exc, batch_id)
    assert batch_id is not None
    return get_batch(deps, user_id, batch_id)


def record_refused(
    deps: Dependencies,
    user_id: int,
    file: Upload,
    target: str,
    options: ConversionOptions | None,
    error: AudioconvError,
    batch_id: int | None,
) -> None:
    """A failed task for a file that was refused; nothing of the file is stored."""
    name = safe_file_name(file.file_name)
    key = f"uploads/{uuid.uuid4().hex}/{name}"  # names no blob: the file is not kept
    task = record_task(deps, user_id, key, name, target, None, error=error.message,
                       options=checked_options(options, target),
                       batch_id=batch_id)  # fmt: skip
    announce_finished(deps, task)
