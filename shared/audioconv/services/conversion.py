"""Convert one revision of a task: claim it, run ffmpeg, store the result, announce it."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from audioconv.domain.errors import AudioconvError, ConversionFailed, RetryLater
from audioconv.domain.formats import FORMATS
from audioconv.domain.job import ConversionJob, ConversionResult
from audioconv.domain.model import Claim, Task
from audioconv.domain.options import stored_options
from audioconv.ports import Probe
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef, announce_finished
from audioconv.services.tasks import output_too_large

log = logging.getLogger(__name__)
PROGRESS_INTERVAL = 1.0
# The name of each conversion's temporary folder starts with this.
WORK_PREFIX = "audioconv-"


class LeaseLost(Exception):
    """Another worker took the task over (our lease ran out): stop and leave it to them."""


@dataclass(frozen=True)
class Claimed:
    """This worker's hold on one attempt at one revision of a task.

    ``token`` is the fencing token of the claim: every write checks that the task
    is still processing this revision under this very claim, so an attempt whose
    lease ran out, or whose task was deleted (and its id, in a database that
    reuses ids, given to a new task), can neither renew nor write anything.
    """

    ref: TaskRef
    token: str

    def holds(self, task: Task | None) -> bool:
        return task is not None and task.holds(self.ref.revision, self.token)


def convert(deps: Dependencies, ref: TaskRef) -> None:
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
            log.info("task %s r%s is stale or done; request dropped", ref.task_id, ref.revision)
            return
        if claim is Claim.BUSY:
            raise RetryLater(f"task {ref.task_id} is being converted by another worker")
        if task.attempts > deps.settings.max_attempts:
            task.fail(f"conversion failed {task.attempts - 1} times; giving up", deps.clock())
            uow.commit()
            announce_finished(deps, task)
            return
        assert task.claim_token is not None
        uow.commit()
    held = Claimed(ref, task.claim_token)
    try:
        made = _run(deps, task, held, lease)
    except LeaseLost:
        log.warning("task %s: lease lost to another worker; this attempt stops", ref.task_id)
        return
    except (ConversionFailed, AudioconvError) as exc:
        reason = exc.reason if isinstance(exc, ConversionFailed) else exc.message
        _finish(deps, held, lambda t: t.fail(reason, deps.clock()))
        return
    except Exception:
        _finish(deps, held, lambda t: t.release(deps.clock()), announce=False)
        raise
    if not _finish(deps, held, made.apply_to(deps.clock())):
        for key in (made.output_key, made.waveform_key):
            if key:
                deps.blobs.delete(key)


@dataclass(frozen=True)
class Made:
    """What one attempt stored: the output (and waveform) and what was measured."""

    output_key: str
    size: int
    result: ConversionResult
    waveform_key: str | None

    def apply_to(self, now: datetime) -> Callable[[Task], None]:
        """The change that records it on the task."""
        loudness = self.result.input_loudness

        def succeed(task: Task) -> None:
            task.succeed(
                self.output_key, self.result.output.as_dict(), self.size, now,
                input_loudness=loudness.as_json() if loudness else None,
                waveform_key=self.waveform_key,
            )  # fmt: skip

        return succeed


def _run(deps: Dependencies, task: Task, held: Claimed, lease: timedelta) -> Made:
    target = FORMATS[task.output_format]
    work = deps.settings.resolved_work_dir
    work.mkdir(parents=True, exist_ok=True)
    # Probed when it was uploaded; older tasks stored less, so probe those again.
    stored = Probe.from_record(task.input_probe)
    if stored is not None:  # before anything lands on disk (limits may have changed)
        _check_fits(deps, task, stored)
    with tempfile.TemporaryDirectory(prefix=WORK_PREFIX, dir=work) as tmp:
        src = Path(tmp) / "input"
        dst = Path(tmp) / f"output.{target.extension}"
        try:
            deps.blobs.download_to(task.input_key, src)
        except KeyError:
            raise ConversionFailed("the uploaded file is no longer stored") from None
        _heartbeat(deps, held, lease)
        probe = stored or deps.transcoder.probe(src)
        if stored is None:
            _check_fits(deps, task, probe)
        last = time.monotonic()

        def on_progress(percent: float) -> None:
            nonlocal last
            if time.monotonic() - last >= PROGRESS_INTERVAL:
                last = time.monotonic()
                _heartbeat(deps, held, lease, percent)

        job = ConversionJob(probe, target, stored_options(task.options))
        result = deps.transcoder.convert(src, job, dst, on_progress)
        # Each claim writes its own keys: a late attempt can never clobber another's output.
        folder = f"outputs/{task.id}/r{held.ref.revision}/{held.token}"
        key = f"{folder}/{task.output_name}"
        _heartbeat(deps, held, lease)
        size = dst.stat().st_size
        deps.blobs.put_file(key, dst, target.mime_type)
        waveform_key = None
        if result.waveform is not None:
            waveform_key = f"{folder}/waveform.png"
            deps.blobs.put_file(waveform_key, result.waveform, "image/png")
    return Made(key, size, result, waveform_key)


def _check_fits(deps: Dependencies, task: Task, probe: Probe) -> None:
    """ConversionFailed, with what to choose instead, if the output could outgrow the limit."""
    reason = output_too_large(deps, probe, task.input_bytes or 0, task.output_format, task.options)
    if reason is not None:
        raise ConversionFailed(reason)


def _heartbeat(
    deps: Dependencies, held: Claimed, lease: timedelta, percent: float | None = None
) -> None:
    """Extend the lease (and record progress); LeaseLost if another worker took over."""
    with deps.uow() as uow:
        task = uow.tasks.get(held.ref.task_id, for_update=True)
        if task is None or not held.holds(task):
            raise LeaseLost(held.ref.task_id)
        task.renew(deps.clock(), lease, task.progress if percent is None else round(percent, 1))
        uow.commit()


def _finish(
    deps: Dependencies, held: Claimed, change: Callable[[Task], None], announce: bool = True
) -> bool:
    """Apply ``change`` if this attempt still holds the task; False if it moved on."""
    with deps.uow() as uow:
        task = uow.tasks.get(held.ref.task_id, for_update=True)
        if task is None or not held.holds(task):
            log.info("task %s moved on during conversion; result discarded", held.ref.task_id)
            return False
        change(task)
        uow.commit()
    if announce:
        announce_finished(deps, task)
    return True
