"""Convert one revision of a task: claim it, run ffmpeg, store the result, announce it
(and, with ``report_pass``, ask for its report pass: services/report.py)."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from audioconv import logs
from audioconv.domain.errors import AudioconvError, ConversionFailed, RetryLater
from audioconv.domain.formats import FORMATS
from audioconv.domain.gain import Gain
from audioconv.domain.job import ConversionJob, ConversionResult
from audioconv.domain.model import ClaimOutcome, Fidelity, Task, as_utc
from audioconv.ports import Probe
from audioconv.services import album_gain, url_import
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef, announce_finished, request_report
from audioconv.services.tasks import predicted_output, quota_message

log = logging.getLogger(__name__)
PROGRESS_INTERVAL = 1.0
# The name of each conversion's temporary folder starts with this.
WORK_PREFIX = "audioconv-"
# A request that finds the task busy is due again this long after the lease ends.
BUSY_MARGIN_SECONDS = 1.0


class LeaseLost(Exception):
    """Another worker took the task over (our lease ran out): stop and leave it to them."""


@dataclass(frozen=True)
class Attempt:
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
        logs.bind(user_id=task.user_id)  # this event's log lines name the owner
        claim = task.claim(ref.revision, deps.clock(), lease, deps.settings.worker_id)
        if claim is ClaimOutcome.STALE:
            log.info("task %s r%s is stale or done; request dropped", ref.task_id, ref.revision)
            return
        if claim is ClaimOutcome.BUSY:
            assert task.lease_expires_at is not None  # BUSY: an unexpired lease
            now = deps.clock()
            raise RetryLater(
                f"task {ref.task_id} is being converted by another worker (its lease runs "
                f"until {task.lease_expires_at:%H:%M:%S} UTC; now {now:%H:%M:%S})",
                # Due again just after the lease ends, when a claim can succeed.
                after_seconds=(as_utc(task.lease_expires_at) - now).total_seconds()
                + BUSY_MARGIN_SECONDS,
            )
        if task.attempts > deps.settings.max_attempts:
            task.fail(f"conversion failed {task.attempts - 1} times; giving up", deps.clock())
            uow.commit()
            announce_finished(deps, task)
            return
        assert task.claim_token is not None
        uow.commit()
    attempt = Attempt(ref, task.claim_token)
    try:
        made = _run(deps, task, attempt, lease)
    except LeaseLost:
        log.warning("task %s: lease lost to another worker; this attempt stops", ref.task_id)
        return
    except (ConversionFailed, AudioconvError) as exc:
        reason = exc.reason if isinstance(exc, ConversionFailed) else exc.message
        _finish(deps, attempt, lambda t: t.fail(reason, deps.clock()))
        _settle_album(deps, task)
        return
    except Exception:
        _apply(deps, attempt, lambda t: t.release(deps.clock()))  # due again, for a retry
        raise
    replaced: list[str] = []
    if not _finish(deps, attempt, made.apply_to(deps.clock(), deps.settings.report_pass, replaced)):
        deps.blobs.delete(made.output_key)
    for key in replaced:  # the output kept from an earlier revision, now replaced
        deps.blobs.delete(key)
    _settle_album(deps, task)


def _settle_album(deps: Dependencies, task: Task) -> None:
    """If the task is a track of an album (``gain: "album"``), write the album's gain
    tags once its last track is finished; a failure is left to the sweep (the tracks
    stay ``album_gain_due``)."""
    if not album_gain.wants_album(task) or task.batch_id is None:
        return
    try:
        album_gain.settle(deps, task.batch_id)
    except Exception:
        log.exception("album gain of batch %s failed; the sweep tries again", task.batch_id)


@dataclass(frozen=True)
class Made:
    """What one attempt stored: the output and what was measured."""

    output_key: str
    size: int
    result: ConversionResult
    gain: Gain | None = None  # the track gain tags written into it, if any

    def apply_to(
        self, now: datetime, report_due: bool, replaced: list[str]
    ) -> Callable[[Task], None]:
        """The change that records it on the task (its report pass still due, or not);
        the key of the output it replaces, if any, goes into ``replaced``."""
        result = self.result
        loudness = result.input_loudness
        kept = Fidelity(result.warnings, result.verified, result.inexact)

        def succeed(task: Task) -> None:
            old = task.succeed(
                self.output_key, result.output, self.size, now, input_loudness=loudness,
                report_due=report_due, fidelity=kept,
            )  # fmt: skip
            replaced.extend([old] if old else [])
            task.gain_tagged(self.gain, album_gain.wants_album(task))

        return succeed


def _run(deps: Dependencies, task: Task, attempt: Attempt, lease: timedelta) -> Made:
    target = FORMATS[task.output_format]
    work = deps.settings.resolved_work_dir
    work.mkdir(parents=True, exist_ok=True)
    if task.awaits_fetch:  # a URL import: fetch its file first (services/url_import.py)
        task = _fetch(deps, task, attempt, lease, work)
    # Probed when it was uploaded; older tasks stored less, so probe those again.
    stored = task.full_input_probe
    if stored is not None:  # before anything lands on disk (limits may have changed)
        _check_fits(deps, task, stored)
    # The claim just set the lease: renewed again only once a second has passed (a
    # short job's two renewals were ~3 ms of its ~10 ms overhead).
    renewed = deps.clock()

    def renew_if_due() -> None:
        nonlocal renewed
        if (deps.clock() - renewed).total_seconds() >= PROGRESS_INTERVAL:
            _heartbeat(deps, attempt, lease)
            renewed = deps.clock()

    with tempfile.TemporaryDirectory(prefix=WORK_PREFIX, dir=work) as tmp:
        src = Path(tmp) / "input"
        dst = Path(tmp) / f"output.{target.extension}"
        try:
            src = local_file(deps, task.input_key, src)
        except KeyError:
            raise ConversionFailed("the uploaded file is no longer stored") from None
        renew_if_due()
        probe = stored or deps.transcoder.probe(src)
        if stored is None:
            _check_fits(deps, task, probe)
        last = time.monotonic()

        def on_progress(percent: float) -> None:
            nonlocal last
            if time.monotonic() - last >= PROGRESS_INTERVAL:
                last = time.monotonic()
                _heartbeat(deps, attempt, lease, percent)

        job = ConversionJob(probe, target, task.options)
        result = deps.transcoder.convert(src, job, dst, on_progress)
        renew_if_due()
        gain = album_gain.tag_track(deps, task, dst, result.output.duration)
        # Each claim writes its own keys: a late attempt can never clobber another's output.
        folder = f"outputs/{task.id}/r{attempt.ref.revision}/{attempt.token}"
        key = f"{folder}/{task.output_name}"
        renew_if_due()
        size = dst.stat().st_size
        deps.blobs.put_file(key, dst, target.mime_type, move=True)  # ours to give away
    return Made(key, size, result, gain)


def _fetch(deps: Dependencies, task: Task, attempt: Attempt, lease: timedelta, work: Path) -> Task:
    """The task with its URL import's file fetched, checked, stored and recorded."""
    last = time.monotonic()

    def on_progress(percent: float) -> None:  # renews the lease while bytes arrive
        nonlocal last
        if time.monotonic() - last >= PROGRESS_INTERVAL:
            last = time.monotonic()
            _heartbeat(deps, attempt, lease, percent)

    with tempfile.TemporaryDirectory(prefix=WORK_PREFIX, dir=work) as tmp:
        change = url_import.fetch_input(deps, task, Path(tmp), on_progress)
    fetched = _apply(deps, attempt, change)
    if fetched is None:
        raise LeaseLost(attempt.ref.task_id)
    return fetched


def local_file(deps: Dependencies, key: str, fallback: Path) -> Path:
    """The blob as a file on this disk: the store's own (read in place, no copy), or a
    copy at ``fallback``; KeyError if there is no such blob."""
    path = deps.blobs.local_path(key)
    if path is not None:
        return path
    deps.blobs.download_to(key, fallback)
    return fallback


def _check_fits(deps: Dependencies, task: Task, probe: Probe) -> None:
    """ConversionFailed, with what to choose instead, if the output could outgrow the
    limit, or the owner's storage quota (beside everything else they store), before
    anything is written."""
    bound, reason = predicted_output(
        deps, probe, task.input_bytes or 0, task.output_format, task.options
    )
    if reason is not None:
        raise ConversionFailed(reason)
    quota = deps.settings.quota_stored_bytes
    if quota:
        with deps.uow(readonly=True) as uow:
            _, stored = uow.tasks.usage(task.user_id)
        others = stored - task.reserved_bytes  # what it stores beside this output's room
        if others + bound > quota:
            raise ConversionFailed(quota_message(others + bound, quota))


def _heartbeat(
    deps: Dependencies, attempt: Attempt, lease: timedelta, percent: float | None = None
) -> None:
    """Extend the lease (and record progress); LeaseLost if another worker took over."""
    with deps.uow() as uow:
        task = uow.tasks.get(attempt.ref.task_id, for_update=True)
        if task is None or not attempt.holds(task):
            raise LeaseLost(attempt.ref.task_id)
        task.renew(deps.clock(), lease, task.progress if percent is None else round(percent, 1))
        uow.commit()


def _finish(deps: Dependencies, attempt: Attempt, change: Callable[[Task], None]) -> bool:
    """Finish the task with ``change`` (succeed or fail) and announce it (then ask for
    its report pass, if due), if this attempt still holds it; False if it moved on."""
    task = _apply(deps, attempt, change)
    if task is None:
        return False
    announce_finished(deps, task)
    if task.report_due:
        request_report(deps, task)
    return True


def _apply(deps: Dependencies, attempt: Attempt, change: Callable[[Task], None]) -> Task | None:
    """Apply ``change`` if this attempt still holds the task; None if it moved on."""
    with deps.uow() as uow:
        task = uow.tasks.get(attempt.ref.task_id, for_update=True)
        if task is None or not attempt.holds(task):
            log.info("task %s moved on during conversion; result discarded", attempt.ref.task_id)
            return None
        change(task)
        uow.commit()
    return task
