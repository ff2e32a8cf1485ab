"""Convert one revision of a task: claim it, run ffmpeg, store the result, announce it."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from audioconv.domain.errors import AudioconvError, ConversionFailed, RetryLater
from audioconv.domain.formats import FORMATS
from audioconv.domain.model import Claim, Task, TaskStatus
from audioconv.domain.options import stored_options
from audioconv.services.deps import Deps
from audioconv.services.messages import TaskRef, publish_or_leave_to_sweep

log = logging.getLogger(__name__)
PROGRESS_INTERVAL = 1.0


def convert(deps: Deps, ref: TaskRef) -> None:
    """Handle one conversion request. Idempotent: a repeated or stale request changes nothing.

    Raises RetryLater (or any error) when the request must be redelivered: it
    is only acknowledged once the task is finished or the request is moot.
    """
    lease = timedelta(seconds=deps.settings.lease_seconds)
    with deps.uow() as uow:
        task = uow.tasks.get(ref.task_id, for_update=True)
        if task is None:
            log.info("task %s no longer exists; request dropped", ref.task_id)
            return
        claim = task.claim(ref.revision, deps.clock(), lease)
        if claim is Claim.STALE:
            log.info("task %s revision %s is stale or done; request dropped", *_ids(ref))
            return
        if claim is Claim.BUSY:
            raise RetryLater(f"task {ref.task_id} is being converted by another worker")
        if task.attempts > deps.settings.max_attempts:
            task.fail(f"conversion failed {task.attempts - 1} times; giving up", deps.clock())
            uow.commit()
            publish_or_leave_to_sweep(deps, task, announce=True)
            return
        uow.commit()
    try:
        output_key, output_probe = _run(deps, task, ref, lease)
    except (ConversionFailed, AudioconvError) as exc:
        reason = exc.reason if isinstance(exc, ConversionFailed) else exc.message
        _finish(deps, ref, lambda t: t.fail(reason, deps.clock()))
        return
    except Exception:
        _finish(deps, ref, lambda t: t.release(deps.clock()), announce=False)
        raise
    if not _finish(deps, ref, lambda t: t.succeed(output_key, output_probe, deps.clock())):
        deps.blobs.delete(output_key)


def _run(deps: Deps, task: Task, ref: TaskRef, lease: timedelta) -> tuple[str, dict[str, object]]:
    target = FORMATS[task.output_format]
    with tempfile.TemporaryDirectory(prefix="audioconv-") as tmp:
        src = Path(tmp) / "input"
        dst = Path(tmp) / f"output.{target.extension}"
        try:
            deps.blobs.download_to(task.input_key, src)
        except KeyError:
            raise ConversionFailed("the uploaded file is no longer stored") from None
        probe = deps.transcoder.probe(src)
        last = 0.0

        def on_progress(percent: float) -> None:
            nonlocal last
            if time.monotonic() - last >= PROGRESS_INTERVAL:
                last = time.monotonic()
                _heartbeat(deps, ref, lease, percent)

        options = stored_options(task.options)
        deps.transcoder.convert(src, probe, dst, target.name, on_progress, options)
        output_probe = deps.transcoder.probe(dst).as_dict()
        key = f"outputs/{ref.task_id}/r{ref.revision}/{task.output_name}"
        deps.blobs.put_file(key, dst, target.mime_type)
    return key, output_probe


def _heartbeat(deps: Deps, ref: TaskRef, lease: timedelta, percent: float) -> None:
    """Record progress and extend the lease, so no other worker takes the task over."""
    with deps.uow() as uow:
        task = uow.tasks.get(ref.task_id)
        if task and task.revision == ref.revision and task.status is TaskStatus.PROCESSING:
            task.renew(deps.clock(), lease, round(percent, 1))
            uow.commit()


def _finish(
    deps: Deps, ref: TaskRef, change: Callable[[Task], None], announce: bool = True
) -> bool:
    """Apply ``change`` if the task is still at this revision; False if it moved on."""
    with deps.uow() as uow:
        task = uow.tasks.get(ref.task_id, for_update=True)
        if task is None or task.revision != ref.revision:
            log.info("task %s changed during conversion; result discarded", ref.task_id)
            return False
        change(task)
        uow.commit()
    if announce:
        publish_or_leave_to_sweep(deps, task, announce=True)
    return True


def _ids(ref: TaskRef) -> tuple[int, int]:
    return ref.task_id, ref.revision
