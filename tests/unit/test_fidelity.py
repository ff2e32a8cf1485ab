"""The rules of a faithful conversion (domain/fidelity.py) and of what a report pass
may show (domain/report_findings.py), on plain data."""

from __future__ import annotations

from typing import Any

import pytest

from audioconv.domain import fidelity
from audioconv.domain.formats import FORMATS
from audioconv.domain.job import MediaReport
from audioconv.domain.media import Loudness, Probe
from audioconv.domain.model import Task
from audioconv.domain.options import parse_options
from audioconv.domain.refused_formats import refusal
from audioconv.domain.report_findings import report_findings
from tests.unit.fidelity_jobs import job, probe

MP3_128 = probe(codec="mp3", format="mp3", demuxer="mp3", bitrate=128000, sample_rate=44100,
                sample_format=None)  # fmt: skip


@pytest.mark.parametrize(
    ("source", "target", "asked", "kept"),
    [
        ("s24", "wav", None, "s24"), ("s24", "aiff", None, "s24"), ("s24", "flac", None, "s24"),
        ("s24", "alac", None, "s24"), ("f32", "wav", None, "f32"), ("f32", "aiff", None, "f32"),
        ("f32", "flac", None, "s24"), ("f64", "aiff", None, "f32"), ("u8", "wav", None, "u8"),
        ("u8", "flac", None, "s16"), ("s32", "flac", None, "s24"), ("s16", "wav", None, "s16"),
        (None, "wav", None, "s16"), ("s24", "flac", 16, "s16"), ("s16", "wav", 32, "f32"),
        ("s24", "mp3", None, None),
    ],
)  # fmt: skip
def test_a_lossless_target_keeps_the_inputs_resolution_or_the_nearest_it_holds(
    source: str | None, target: str, asked: int | None, kept: str | None
) -> None:
    options = parse_options({"bitDepth": asked} if asked else {}, FORMATS[target])
    assert fidelity.output_sample_format(FORMATS[target], options, source) == kept


def test_dsd_becomes_24_bit_pcm_at_88_2_or_176_4_khz() -> None:
    dsd64 = probe(codec="dsd_lsbf_planar", sample_format=None, sample_rate=352800)
    dsd128 = probe(codec="dsd_msbf", sample_format=None, sample_rate=705600)
    assert (fidelity.source_rate(dsd64), fidelity.source_rate(dsd128)) == (88200, 176400)
    assert fidelity.job_sample_format(job("flac", dsd64)) == "s24"
    assert fidelity.resample_cutoff(dsd64, 88200) == pytest.approx(30000 / 44100)
    assert fidelity.resample_cutoff(probe(), 44100) is None


@pytest.mark.parametrize(
    ("found", "target", "asked", "bits"),
    [
        (probe(), "flac", {"bitDepth": 16}, 16), (probe(), "flac", {}, None),
        (probe(sample_format="f32"), "flac", {}, 24), (MP3_128, "wav", {}, 16),
        (probe(), "wav", {"bitDepth": 32}, None), (probe(), "mp3", {}, None),
        (probe(), "wav", {"loudness": -16}, 24),  # filters compute in floating point
    ],
)  # fmt: skip
def test_every_reduction_is_dithered_and_nothing_else(
    found: Probe, target: str, asked: dict[str, Any], bits: int | None
) -> None:
    assert fidelity.dither_bits(job(target, found, **asked)) == bits


def test_only_an_unchanged_lossless_round_trip_promises_identical_samples() -> None:
    def codec(target: str, found: Probe | None = None, **asked: Any) -> str | None:
        chosen = job(target, found, **asked)
        rate = asked.get("sampleRate", (found or probe()).sample_rate)
        return fidelity.verify_codec(chosen, rate, (found or probe()).channels)

    assert codec("flac") == "pcm_s24le"  # as FLAC's STREAMINFO keeps it
    assert codec("wav") == codec("alac") == "pcm_s32le"
    assert codec("wav", probe(sample_format="f32")) == "pcm_f32le"
    assert codec("flac", probe(sample_format="u8")) == "pcm_s16le"  # widened exactly
    assert codec("flac", bitDepth=16) is None
    assert codec("flac", sampleRate=48000) is None
    assert codec("flac", start=1) is None
    assert codec("flac", probe(sample_format="f32")) is None
    assert codec("flac", MP3_128) is None
    assert codec("mp3") is None


def test_a_lossy_input_gets_warnings_for_what_would_be_invented() -> None:
    up = job("mp3", MP3_128, bitrate=320)
    assert fidelity.warnings(up, False, 44100) == [
        "the input is 128 kbit/s MP3: 320 kbit/s adds size, not quality"
    ]
    assert fidelity.capped_kbps(up, copied=False) is None
    capped = job("mp3", MP3_128, bitrate=320, upscale=False)
    assert fidelity.capped_kbps(capped, copied=False) == 128
    assert "capped at its 128 kbit/s" in fidelity.warnings(capped, False, 44100)[0]
    assert fidelity.warnings(job("mp3", MP3_128, bitrate=128), False, 44100) == []
    assert fidelity.warnings(job("mp3", MP3_128, bitrate=140), False, 44100) == []  # margin
    assert fidelity.warnings(job("m4a", MP3_128), False, 44100) == [  # the preset's 192
        "the input is 128 kbit/s MP3: 192 kbit/s adds size, not quality"
    ]
    assert fidelity.warnings(job("mp3", MP3_128), True, 44100) == []  # a copy invents nothing
    lossless = fidelity.warnings(job("flac", MP3_128), False, 44100)
    assert lossless == [
        "the input is 128 kbit/s MP3 (lossy): as flac it keeps what the lossy encoding "
        "lost and only adds size"
    ]


def test_asking_more_rate_or_depth_than_the_input_has_is_said() -> None:
    cd = probe(sample_format="s16", sample_rate=44100)
    assert fidelity.warnings(job("flac", cd, sampleRate=96000), False, 96000) == [
        "the input is at 44100 Hz: 96000 Hz adds size, not bandwidth"
    ]
    assert fidelity.warnings(job("flac", cd, bitDepth=24), False, 44100) == [
        "the input is 16-bit: 24-bit adds size, not resolution"
    ]
    assert fidelity.warnings(job("flac", cd), False, 44100) == []


def test_what_each_format_says_of_its_length() -> None:
    exact = {name for name, fmt in FORMATS.items() if fidelity.exact_length(fmt)[0]}
    assert exact == set(FORMATS) - {"aac", "wma"}
    assert "ADTS" in str(fidelity.exact_length(FORMATS["aac"])[1])


@pytest.mark.parametrize(
    ("seconds", "integrated", "reason"),
    [(0.14, -70.0, "too short to measure"), (0.14, -20.0, "too short to measure"),
     (2.0, -70.0, "too quiet to measure"), (2.0, None, "too quiet to measure"),
     (0.4, -20.0, None), (2.0, -23.0, None)],
)  # fmt: skip
def test_loudness_is_shown_only_where_it_was_measured(
    seconds: float, integrated: float | None, reason: str | None
) -> None:
    assert fidelity.loudness_reason(seconds, integrated) == reason


def test_a_report_pass_shows_what_it_measured_and_warns_of_clipping() -> None:
    task = Task(1, "a.wav", "wav", "mp3", "k", output_probe=Probe.from_record({"duration": 0.14}),
                input_probe=Probe.from_record({"duration": 0.14}))  # fmt: skip
    floor = Loudness(-70.0, 0.0, -3.0)
    short = report_findings(task, MediaReport(floor, Loudness(-70.0, 0.0, 0.4), 0.14))
    assert (short.input_loudness, short.output_loudness) == (None, None)
    assert short.reasons == ("too short to measure", "too short to measure")
    assert short.warning is not None and "+0.4 dBTP" in short.warning
    failed = report_findings(task, MediaReport())  # a failed pass says nothing
    assert failed.reasons == (None, None) and failed.warning is None
    long = Task(1, "a.wav", "wav", "flac", "k", output_probe=Probe.from_record({"duration": 5.0}),
                input_probe=Probe.from_record({"duration": 5.0}))  # fmt: skip
    loud = Loudness(-9.0, 3.0, 0.8)
    found = report_findings(long, MediaReport(loud, loud, 5.0))
    assert found.output_loudness == loud and found.warning is None  # lossless: no clipping


@pytest.mark.parametrize(
    ("head", "said"),
    [(b"#EXTM3U\n", "an M3U/HLS playlist is not supported"),
     (b"ajkg\x02", "Shorten (SHN) is not supported"),
     (b"\x00\x00\x00\x20ftypisom", "an MP4 file, but damaged or without audio we read"),
     (b"hello", "the formats we read are listed at GET /api/formats")],
)  # fmt: skip
def test_a_refused_file_is_named_by_its_first_bytes(head: bytes, said: str) -> None:
    assert refusal(head).startswith(f"not an audio file we can read: {said}")


@pytest.mark.parametrize(
    ("peak", "cut"), [(-0.5, 0.55), (-0.95, None), (-0.9, None), (-0.89, 0.16), (None, None)]
)
def test_an_output_over_its_ceiling_is_made_again_that_much_quieter(
    peak: float | None, cut: float | None
) -> None:
    assert fidelity.ceiling_cut(-1.0, peak) == cut


def test_upscale_is_refused_where_there_is_no_bitrate_to_cap() -> None:
    with pytest.raises(ValueError, match="flac is lossless: upscale caps the bitrate"):
        parse_options({"upscale": "false"}, FORMATS["flac"])
    assert parse_options({"upscale": "false"}, FORMATS["ogg"]).upscale is False
