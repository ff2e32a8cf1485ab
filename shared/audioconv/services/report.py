"""The report pass of a converted task: the loudness of its input and output, the
output's exact length (its samples counted) and a picture of both waveforms.

It runs after the conversion, off its path: the conversion makes the task
``processed`` at once (with the encoder's own count of its length) and, with
``report_pass``, marks the report due and asks for it on the report topic. A worker
runs it when no conversion is waiting (adapters/sql_queue.py), so a backlog of
conversions drains first. The task's ``report_due`` is the record: the sweep asks
again for every report still due (services/recovery.py).

Idempotent: it records what it measured only on the revision, and the very output,
it measured, and only once; a retarget or a deletion meanwhile wins, and the picture
it stored for nothing is deleted. A failed ffmpeg run ends the report (nothing
measured, nothing to retry); a failure of storage or the database is raised, so the
request is redelivered.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from audioconv import logs
from audioconv.domain.errors import ConversionFailed
from audioconv.domain.formats import FORMATS
from audioconv.domain.job import MediaReport
from audioconv.domain.media import Probe
from audioconv.domain.model import Task
from audioconv.domain.report_findings import report_findings
from audioconv.services.conversion import WORK_PREFIX, local_file
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef

log = logging.getLogger(__name__)
WAVEFORM_NAME = "waveform.png"


def run_report(deps: Dependencies, ref: TaskRef) -> None:
    """Run the report pass of ``ref``'s output, if it is still due, and record it."""
    with deps.uow(readonly=True) as uow:
        task = uow.tasks.get(ref.task_id)
    if task is None or not task.awaits_report(ref.revision) or task.output_key is None:
        log.info("task %s r%s has no report due; request dropped", ref.task_id, ref.revision)
        return
    logs.bind(user_id=task.user_id)
    output_key = task.output_key
    # The waveform goes beside the output, in the folder of the claim that made it.
    waveform_key = f"{output_key.rpartition('/')[0]}/{WAVEFORM_NAME}"
    work = deps.settings.resolved_work_dir
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=WORK_PREFIX, dir=work) as tmp:
        report = _measure(deps, task, output_key, Path(tmp))
        stored = None
        if report.waveform is not None:
            deps.blobs.put_file(waveform_key, report.waveform, "image/png")
            stored = waveform_key
    if not _record(deps, ref, output_key, report, stored) and stored is not None:
        deps.blobs.delete(stored)


def _measure(deps: Dependencies, task: Task, output_key: str, folder: Path) -> MediaReport:
    """Run the transcoder's report over the task's stored input and output (read in
    place when the store keeps them on this disk); an empty report if it fails."""
    try:
        # Any name but the output's or the picture's will do: ffmpeg reads it by content.
        scratch_input = folder / "input"  # pragma: no mutate
        src = local_file(deps, task.input_key, scratch_input)
        dst = local_file(deps, output_key, folder / f"output{Path(output_key).suffix}")
    except KeyError:  # deleted or retargeted meanwhile (recording will find out)
        log.info("task %s: its files are gone; no report", task.id)
        return MediaReport()
    try:
        source = task.full_input_probe or deps.transcoder.probe(src, limits=False)
        output = task.output_probe
        seconds = (output.duration if output else None) or source.duration
        once = output_is_input(task, source)
        return deps.transcoder.report(src, source, dst, seconds, folder / WAVEFORM_NAME, once)
    except ConversionFailed as exc:
        log.warning("task %s: no loudness or waveform: %s", task.id, exc.reason)
        return MediaReport()


def output_is_input(task: Task, source: Probe) -> bool:
    """Whether the task's output decodes to its input's very samples, so its figures
    follow from the input's and only the input is decoded: a stream copy, or a lossless
    target, with no option that changes the audio (trim, fades, loudness), at the
    input's rate and channels (as the conversion recorded them). A lossless target
    may store fewer bits than the decoder gave: the difference is below -90 dBFS,
    far under the report's 0.1 dB."""
    output, options = task.output_probe, task.options
    if output is None:
        return False
    # The same codec with no encoder setting asked for: the stream was copied.
    unset = options.bitrate is None and options.quality is None
    copied = output.codec == source.codec and unset
    lossless = task.output_format in FORMATS and FORMATS[task.output_format].lossless
    return (
        (copied or lossless)
        and not options.filtered
        and output.sample_rate == source.sample_rate
        and output.channels == source.channels
    )


def _record(
    deps: Dependencies, ref: TaskRef, output_key: str, report: MediaReport, waveform: str | None
) -> bool:
    """Record the report if the task still awaits it for that output; whether the task
    now refers to ``waveform`` (False: the stored picture is nobody's)."""
    with deps.uow() as uow:
        task = uow.tasks.get(ref.task_id, for_update=True)
        if task is None:
            log.info("task %s was deleted during its report; report discarded", ref.task_id)
            return False
        if not task.awaits_report(ref.revision, output_key):
            log.info("task %s moved on during its report; report discarded", ref.task_id)
            return waveform is not None and task.waveform_key == waveform
        measured = report_findings(task, report)
        task.reported(
            input_loudness=measured.input_loudness,
            output_loudness=measured.output_loudness,
            output_seconds=report.output_seconds,
            waveform_key=waveform,
            loudness_reasons=measured.reasons,
            warning=measured.warning,
        )
        uow.commit()
    return True
