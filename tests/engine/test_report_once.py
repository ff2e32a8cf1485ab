"""The report pass decodes once what needs decoding once: an output whose samples are
its input's (a stream copy, a lossless target without filters) is not decoded again,
and its figures, taken from the input, are what decoding it would have given; and
every figure is ffmpeg's own ebur128 (peak=true) on the same audio."""

from __future__ import annotations

from pathlib import Path

import pytest

from audioconv.adapters import ffmpeg_command as command
from audioconv.adapters.ffmpeg import FfmpegTranscoder
from audioconv.domain.job import MediaReport
from tests.support.audio import decoded_duration, job
from tests.support.loudness import ebur128, make_noise


@pytest.fixture(scope="module")
def transcoder() -> FfmpegTranscoder:
    return FfmpegTranscoder()


@pytest.fixture(scope="module")
def noise(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_noise(tmp_path_factory.mktemp("once") / "noise.flac", 3.0, gain_db=-12.0)


def _report(
    transcoder: FfmpegTranscoder, src: Path, target: str, once: bool, tmp_path: Path
) -> tuple[Path, MediaReport]:
    dst = tmp_path / f"out-{target}-{once}.{target}"
    result = transcoder.convert(src, job(transcoder.probe(src), target), dst, lambda _p: None)
    png = tmp_path / f"wave-{target}-{once}.png"
    probe = transcoder.probe(src)
    return dst, transcoder.report(src, probe, dst, result.output.duration, png, once)


@pytest.mark.parametrize("target", ["wav", "flac"])
def test_a_lossless_output_is_measured_from_its_input_alone(
    transcoder: FfmpegTranscoder, noise: Path, target: str, tmp_path: Path
) -> None:
    dst, once = _report(transcoder, noise, target, True, tmp_path)
    _, twice = _report(transcoder, noise, target, False, tmp_path)
    assert once.input_loudness and once.output_loudness and twice.output_loudness
    # What decoding the output gives, and what ffmpeg's own meter says of the output.
    integrated, peak = ebur128(dst)
    for figures in (twice.output_loudness, once.output_loudness):
        assert abs(figures.integrated - integrated) <= 0.1
        assert abs(figures.true_peak - peak) <= 0.1
    assert abs(once.output_loudness.range - twice.output_loudness.range) <= 0.1
    assert once.output_seconds == twice.output_seconds
    assert once.output_seconds is not None
    assert abs(once.output_seconds - decoded_duration(dst)) <= 0.001
    assert once.waveform is not None and once.waveform.read_bytes()[:4] == b"\x89PNG"


def test_the_single_decode_reads_the_input_only() -> None:
    """The command for such an output opens one file: the input."""
    png, src = Path("/w/wave.png"), Path("/w/in")
    once = command.report_command("ffmpeg", src, "flac", None, png, (3.0, 3.0))
    twice = command.report_command("ffmpeg", src, "flac", Path("/w/out.wav"), png, (3.0, 3.0))
    assert once.count("-i") == 1 and twice.count("-i") == 2
    assert "file:/w/out.wav" not in once
    graph = once[once.index("-filter_complex") + 1]
    assert graph.count("ebur128") == 1 and graph.count("showwaves") == 2
