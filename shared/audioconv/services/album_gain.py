"""Gain tags of a converted file (``gain`` option), and of a whole album once its
last track is converted.

Track gain is measured on the output and written into it before it is stored
(``tag_track``), so a task with ``gain`` is never ``processed`` without its tags.
With ``gain: "album"`` the task is also marked ``album_gain_due`` in the very commit
that makes it processed. When no track of the batch asking for album gain is still to
run, whichever worker finished last (or the sweep, after a crash) measures every
converted track again, gates all their blocks together (domain/gain.py), writes the
album's tags into a copy of each file and swaps the copies in, clearing the mark.

Idempotent: two workers finishing together may both settle the album; each
measures the same files and writes the same figures, and each swap is applied only
to the very output it measured (a convert-again meanwhile wins, and its own
conversion settles the album again).
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from audioconv.domain.formats import FORMATS
from audioconv.domain.gain import GAIN_TAG_STYLES, Gain, album_gain, track_gain
from audioconv.domain.model import Task, TaskStatus
from audioconv.services.dependencies import Dependencies

log = logging.getLogger(__name__)


def tag_track(deps: Dependencies, task: Task, output: Path, seconds: float) -> Gain | None:
    """Measure ``output`` and write its track gain tags, if the task asks for gain;
    the gain written (None: not asked, or silence, which has none). Without ``gain``,
    the gain tags of a source whose level ``loudness`` changed are removed: they would
    be wrong by the change."""
    options = task.options
    if options.gain is None:
        if options.loudness is not None and task.output_format in GAIN_TAG_STYLES:
            deps.transcoder.write_gain(output, task.output_format, None)
        return None
    gain = track_gain(deps.transcoder.measure_gain(output, seconds))
    if gain is not None:
        deps.transcoder.write_gain(output, task.output_format, gain)
    return gain


def wants_album(task: Task) -> bool:
    return task.batch_id is not None and task.options.gain == "album"


@dataclass(frozen=True)
class _Retagged:
    task_id: int
    old_key: str
    new_key: str
    size: int
    gain: Gain | None


def settle(deps: Dependencies, batch_id: int) -> int:
    """Write the album gain of the batch's tracks if every one of them is finished and
    any still waits for it; how many files were retagged."""
    with deps.uow(readonly=True) as uow:
        tracks = [t for t in uow.batches.tasks(batch_id) if wants_album(t)]
    if not any(t.album_gain_due for t in tracks) or not all(t.finished for t in tracks):
        return 0
    done = [t for t in tracks if t.status is TaskStatus.PROCESSED and t.output_key]
    work = deps.settings.resolved_work_dir
    work.mkdir(parents=True, exist_ok=True)
    retagged: list[_Retagged] = []
    try:
        with tempfile.TemporaryDirectory(prefix="audioconv-album-", dir=work) as tmp:
            files, measured = {}, {}
            for task in done:
                assert task.output_key is not None and task.id is not None
                path = Path(tmp) / f"{task.id}{Path(task.output_key).suffix}"
                deps.blobs.download_to(task.output_key, path)
                files[task.id] = path
                measured[task.id] = deps.transcoder.measure_gain(path, _seconds(task))
            album = album_gain(list(measured.values()))
            for task in done:
                assert task.id is not None and task.output_key is not None
                gain = track_gain(measured[task.id])
                if gain is not None and album is not None:
                    gain = gain.with_album(album)
                    deps.transcoder.write_gain(files[task.id], task.output_format, gain)
                key = f"{task.output_key.rpartition('/')[0]}/album-{uuid.uuid4().hex[:12]}/"
                key += task.output_name
                path = files[task.id]
                fmt = FORMATS[task.output_format]
                size = path.stat().st_size
                deps.blobs.put_file(key, path, fmt.mime_type, move=True)
                retagged.append(_Retagged(task.id, task.output_key, key, size, gain))
    except KeyError:  # an output deleted or replaced meanwhile: its change settles again
        log.info("batch %s: an output went away while its album was measured", batch_id)
        _discard(deps, retagged)
        return 0
    return _swap(deps, retagged)


def _seconds(task: Task) -> float:
    return (task.output_probe.duration if task.output_probe else 0.0) or 60.0


def _swap(deps: Dependencies, retagged: list[_Retagged]) -> int:
    """Point each task at its retagged output if it still has the output measured;
    delete whichever files no task refers to now."""
    unused, replaced = [], []
    with deps.uow() as uow:
        for item in retagged:
            task = uow.tasks.get(item.task_id, for_update=True)
            if task is None or task.output_key != item.old_key:
                unused.append(item.new_key)
                continue
            replaced.append(item.old_key)
            task.gain_tagged(item.gain, album_due=False, retagged=(item.new_key, item.size))
        uow.commit()
    for key in unused + replaced:
        deps.blobs.delete(key)
    return len(retagged) - len(unused)


def _discard(deps: Dependencies, retagged: list[_Retagged]) -> None:
    for item in retagged:
        deps.blobs.delete(item.new_key)


def settle_due(deps: Dependencies) -> int:
    """The sweep's part: settle every batch with a track still waiting for its album's
    tags (its last conversion's worker died before it did); how many batches."""
    with deps.uow(readonly=True) as uow:
        batches = sorted({t.batch_id for t in uow.tasks.album_gains_due() if t.batch_id})
    settled = 0
    for batch_id in batches:
        try:
            settled += 1 if settle(deps, batch_id) else 0
        except Exception:
            log.exception("album gain of batch %s failed; the next sweep tries again", batch_id)
    return settled
