"""Warnings at their limits (exactly the margin, the same rate or depth as the input,
a rise the user did not ask for), how an input is named in them, a ceiling cut to the
hundredth of a dB, and a loudnorm report that cannot be read among good ones."""

from __future__ import annotations

import pytest

from audioconv.adapters.ffmpeg_parse import LoudnormStats, parse_loudnorm
from audioconv.domain import fidelity
from audioconv.domain.formats import FORMATS
from audioconv.domain.options import parse_options
from tests.unit.fidelity_jobs import job, probe

CD = probe(sample_format="s16", sample_rate=44100)
LOSSY = {"format": "ogg", "demuxer": "ogg", "sample_format": None, "sample_rate": 48000}


def test_a_bitrate_exactly_at_the_margin_is_not_an_upscale() -> None:
    opus_80 = probe(codec="opus", bitrate=80000, **LOSSY)  # 80 * 1.1 is 88 exactly
    assert fidelity.warnings(job("opus", opus_80, bitrate=88), False, 48000) == []
    assert fidelity.warnings(job("opus", opus_80, bitrate=89), False, 48000) == [
        "the input is 80 kbit/s Opus: 89 kbit/s adds size, not quality"
    ]


def test_a_rate_is_warned_of_only_when_asked_and_above_the_inputs() -> None:
    assert fidelity.warnings(job("flac", CD, sampleRate=44100), False, 44100) == []
    assert fidelity.warnings(job("flac", CD), False, 96000) == []  # not asked for
    assert fidelity.warnings(job("flac", CD, sampleRate=48000), False, 48000) == [
        "the input is at 44100 Hz: 48000 Hz adds size, not bandwidth"
    ]


def test_a_depth_is_warned_of_only_when_asked_and_above_the_inputs() -> None:
    assert fidelity.warnings(job("flac", CD, bitDepth=16), False, 44100) == []
    assert fidelity.warnings(job("flac", probe(sample_format="s24"), bitDepth=16), False,
                             96000) == []  # fmt: skip
    assert fidelity.warnings(job("flac", probe(sample_format="u8")), False, 96000) == []


def test_an_input_is_named_by_its_codecs_title_or_its_name_and_its_bitrate_if_known() -> None:
    vorbis = probe(codec="vorbis", bitrate=None, **LOSSY)
    assert fidelity.warnings(job("flac", vorbis), False, 48000) == [
        "the input is Vorbis (lossy): as flac it keeps what the lossy encoding lost and "
        "only adds size"
    ]
    gsm = probe(codec="gsm", bitrate=13000, **LOSSY)  # a codec without a title
    assert fidelity.warnings(job("flac", gsm), False, 48000)[0].startswith(
        "the input is 13 kbit/s GSM (lossy)"
    )


def test_a_ceiling_cut_is_rounded_to_the_hundredth() -> None:
    assert fidelity.ceiling_cut(-1.0, -0.123) == 0.93


def test_an_unreadable_loudnorm_report_does_not_hide_the_next() -> None:
    good = (
        '{"input_i": "-20.5", "input_tp": "-3.1", "input_lra": "4.0", '
        '"input_thresh": "-30.6", "target_offset": "0.2"}'
    )
    log = f'[Parsed_loudnorm_0 @ 0x1] {{"input_i": "-inf"}}\n[Parsed_loudnorm_1 @ 0x2] {good}\n'
    assert parse_loudnorm(log) == [LoudnormStats(-20.5, 4.0, -3.1, -30.6, 0.2)]


@pytest.mark.parametrize(
    ("target", "quality", "kbps"),
    [("mp3", "low", 115), ("mp3", "standard", 190), ("mp3", "high", 245), ("mp3", "best", 320),
     ("ogg", "low", 112), ("ogg", "standard", 160), ("ogg", "high", 224), ("ogg", "best", 320),
     ("opus", "low", 64), ("m4a", "standard", 192), ("flac", "standard", None)],
)  # fmt: skip
def test_each_quality_aims_at_its_presets_nominal_bitrate(
    target: str, quality: str, kbps: int | None
) -> None:
    fmt = FORMATS[target]
    options = parse_options({} if fmt.lossless else {"quality": quality}, fmt)
    assert fidelity.nominal_kbps(fmt, options) == kbps


def test_floating_point_pcm_is_compared_at_its_own_width() -> None:
    for resolution, codec in (("f64", "pcm_f64le"), ("f32", "pcm_f32le")):
        same = job("wav", probe(codec=codec, sample_format=resolution))
        assert fidelity.verify_codec(same, 96000, 2) == codec


def test_clipping_is_warned_of_only_above_zero_dbtp() -> None:
    mp3 = FORMATS["mp3"]
    assert fidelity.clipping_warning(mp3, 0.0) is None
    assert fidelity.clipping_warning(mp3, 0.04) == (
        "the output's true peak is +0.0 dBTP: it clips between samples when played "
        "(lower the level, or use loudness with a truePeak ceiling)"
    )


def test_a_cap_applies_only_above_a_known_lossy_inputs_bitrate() -> None:
    mp3 = probe(codec="mp3", format="mp3", demuxer="mp3", bitrate=128000, sample_rate=44100,
                sample_format=None)  # fmt: skip
    assert fidelity.capped_kbps(job("mp3", mp3, bitrate=128, upscale=False), copied=False) is None
    assert fidelity.capped_kbps(job("mp3", mp3, bitrate=160, upscale=False), copied=False) == 128
    lossless = job("mp3", probe(), bitrate=320, upscale=False)
    assert fidelity.capped_kbps(lossless, copied=False) is None


def test_a_lossy_inputs_bitrate_in_whole_kbits() -> None:
    assert fidelity.input_kbps(probe()) is None  # lossless
    assert fidelity.input_kbps(probe(sample_format=None, bitrate=400)) == 1
    assert fidelity.input_kbps(probe(sample_format=None, bitrate=1_001_000)) == 1001
