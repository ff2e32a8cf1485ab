"""What a report pass may show, in the cases test_fidelity.py does not reach: the
output's length from its probe when the pass did not count it, each file's own reason,
and no clipping warning for a format we do not know."""

from __future__ import annotations

from audioconv.domain.job import MediaReport
from audioconv.domain.media import Loudness, Probe
from audioconv.domain.model import Task
from audioconv.domain.report_findings import report_findings

LOUD = Loudness(-14.0, 6.0, 0.4)  # over 0 dBTP: a lossy output clips


def _task(output_format: str, input_seconds: float, output_seconds: float) -> Task:
    return Task(1, "a.wav", "wav", output_format, "k",
                input_probe=_probe(input_seconds),
                output_probe=_probe(output_seconds))  # fmt: skip


def _probe(seconds: float) -> Probe:
    return Probe("wav", "wav", "pcm_s16le", seconds, None, 44100, 2, {})


def test_without_a_counted_length_the_outputs_probe_says_if_it_is_too_short() -> None:
    found = report_findings(_task("mp3", 5.0, 0.14), MediaReport(LOUD, LOUD, None))
    assert found.input_loudness == LOUD
    assert found.output_loudness is None  # 0.14 s by its probe: too short to measure
    assert found.reasons == (None, None)  # the pass did not run to the end: no reasons


def test_each_file_gets_its_own_reason() -> None:
    found = report_findings(_task("flac", 0.14, 5.0), MediaReport(LOUD, LOUD, 5.0))
    assert (found.input_loudness, found.output_loudness) == (None, LOUD)
    assert found.reasons == ("too short to measure", None)


def test_an_unknown_output_format_gets_no_clipping_warning() -> None:
    assert report_findings(_task("xyz", 5.0, 5.0), MediaReport(LOUD, LOUD, 5.0)).warning is None
    mp3 = report_findings(_task("mp3", 5.0, 5.0), MediaReport(LOUD, LOUD, 5.0))
    assert mp3.warning is not None and "+0.4 dBTP" in mp3.warning
