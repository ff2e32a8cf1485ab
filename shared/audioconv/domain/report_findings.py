"""What a report pass may say of a task's files: only what it measured.

The loudness of audio shorter than one of BS.1770's 400 ms blocks, or of silence,
is the meter's floor (-70 LUFS), not a loudness: it is not shown, and the reason is
("too short to measure"). A lossy output whose true peak goes over 0 dBTP clips
between samples when played: a warning on the task (domain/fidelity.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from audioconv.domain import fidelity
from audioconv.domain.formats import FORMATS
from audioconv.domain.job import MediaReport
from audioconv.domain.media import Loudness
from audioconv.domain.model import Task


@dataclass(frozen=True)
class Findings:
    """The loudness figures worth showing, why the others are not, and a warning."""

    input_loudness: Loudness | None
    output_loudness: Loudness | None
    reasons: tuple[str | None, str | None]
    warning: str | None


def report_findings(task: Task, report: MediaReport) -> Findings:
    """What ``report`` of ``task``'s input and output may show."""
    input_seconds = task.input_probe.duration if task.input_probe else None
    output_seconds = report.output_seconds or (
        task.output_probe.duration if task.output_probe else None
    )
    # A pass that ran counted the output's samples; one that failed measured nothing.
    ran = report.output_seconds is not None
    shown: list[Loudness | None] = []
    reasons: list[str | None] = []
    for loudness, seconds in (
        (report.input_loudness, input_seconds),
        (report.output_loudness, output_seconds),
    ):
        reason = fidelity.loudness_reason(seconds, loudness.integrated if loudness else None)
        shown.append(loudness if reason is None else None)
        reasons.append(reason if ran else None)
    fmt = FORMATS.get(task.output_format)
    peak = report.output_loudness.true_peak if report.output_loudness else None
    warning = fidelity.clipping_warning(fmt, peak) if fmt is not None else None
    return Findings(shown[0], shown[1], (reasons[0], reasons[1]), warning)
