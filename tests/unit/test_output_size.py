"""The output size bound, on plain data (tests/engine checks it against real ffmpeg)."""

from __future__ import annotations

import pytest

from audioconv.domain.formats import FORMATS
from audioconv.domain.options import ConversionOptions
from audioconv.domain.output_size import (
    InputShape,
    human_bytes,
    human_duration,
    output_bound,
    output_rate,
    too_large_reason,
)

TWO_HOURS = 2 * 3600.0
GB = 10**9


def shape(**changes: object) -> InputShape:
    base: dict[str, object] = {
        "duration": TWO_HOURS, "sample_rate": 48000, "channels": 2, "codec": "flac",
        "size": 900 * 10**6, "sample_format": "s16",
    }  # fmt: skip
    return InputShape(**{**base, **changes})  # type: ignore[arg-type]


def bound(fmt: str, source: InputShape | None = None, **options: object) -> int:
    chosen = ConversionOptions.model_validate(options)
    return output_bound(FORMATS[fmt], chosen, source or shape()).bytes


def test_two_hours_of_wav_is_refused_under_one_gb_with_what_to_do() -> None:
    source = shape()
    wav = output_bound(FORMATS["wav"], ConversionOptions(), source)
    pcm = 48000 * 2 * 2 * TWO_HOURS  # 1.38 GB of 16-bit stereo
    assert pcm < wav.bytes < pcm * 1.02
    reason = too_large_reason(wav, source, GB)
    assert reason == (
        "a 2 h 00 min input as wav at 48000 Hz, 2 channels would be up to 1.4 GB; "
        "the limit for one output is 1.0 GB: choose a lossy format such as mp3 or opus, "
        "or a lower sample rate or fewer channels, or split the file"
    )
    assert too_large_reason(wav, source, 2 * GB) is None


def test_lossy_targets_of_two_hours_fit_easily() -> None:
    # LAME VBR is bounded by its largest frame, 320 kbit/s: 288 MB for two hours.
    assert bound("mp3") == pytest.approx(320_000 / 8 * TWO_HOURS * 1.01 + 65536, rel=1e-6)
    for fmt in ("aac", "m4a", "ogg", "opus", "wma"):
        assert bound(fmt) < 400 * 10**6, fmt


def test_options_change_the_bound() -> None:
    assert bound("wav", sampleRate=24000, channels=1) * 4 == pytest.approx(bound("wav"), rel=1e-3)
    assert bound("opus", bitrate=64) < bound("opus") < bound("opus", bitrate=256)
    assert bound("aac", quality="best") > bound("aac", quality="low")
    assert bound("mp3", bitrate=128) < bound("mp3")  # CBR, exactly what was asked
    # Below 32 kHz an mp3 frame is at most 160 kbit/s.
    assert bound("mp3", shape(sample_rate=22050)) < bound("mp3") * 0.51


def test_lossless_compression_is_not_counted_on() -> None:
    """A FLAC or ALAC of noise is as large as PCM at the resolution it keeps."""
    assert bound("flac") == bound("alac") == bound("wav")
    hires = shape(sample_format="s24")
    assert bound("flac", hires) == pytest.approx(bound("wav") * 1.5, rel=1e-3)
    assert bound("flac", hires, bitDepth=16) == bound("wav")


def test_the_output_keeps_the_inputs_resolution_in_the_bound() -> None:
    floating = shape(sample_format="f32")
    assert bound("wav", floating) == pytest.approx(bound("wav") * 2, rel=1e-3)  # float stays
    assert bound("flac", floating) == pytest.approx(bound("wav") * 1.5, rel=1e-3)  # 24-bit
    lossy = shape(sample_format=None, codec="mp3")
    assert bound("wav", lossy) == bound("wav")  # a lossy input becomes 16-bit
    dsd = shape(sample_format=None, codec="dsd_lsbf_planar", dsd=True, sample_rate=88200)
    assert bound("wav", dsd) == pytest.approx(bound("wav") * 1.5 * 88200 / 48000, rel=1e-3)


def test_rate_and_channels_follow_what_the_format_allows() -> None:
    wma = output_bound(FORMATS["wma"], ConversionOptions(), shape(sample_rate=96000, channels=6))
    assert (wma.sample_rate, wma.channels) == (48000, 2)
    ogg_stereo, ogg_six = (bound("ogg", shape(channels=n)) for n in (2, 6))
    assert ogg_six > 2.5 * ogg_stereo  # Vorbis levels are nominal for stereo


def test_a_stream_copy_can_be_as_large_as_the_input() -> None:
    big_mp3 = shape(codec="mp3", size=2 * GB)
    assert bound("mp3", big_mp3) > 2 * GB
    assert bound("opus", big_mp3) < GB  # re-encoded: the input's size does not matter


def test_cover_art_gets_room() -> None:
    with_cover = shape(has_picture=True)
    assert bound("flac", with_cover) - bound("flac") == 16 * 1024 * 1024
    assert bound("wav", with_cover) == bound("wav")  # wav carries no cover


def test_lossy_advice_names_bitrate() -> None:
    source = shape(duration=6 * 3600.0, channels=8)
    opus = output_bound(FORMATS["opus"], ConversionOptions(bitrate=510), source)
    reason = too_large_reason(opus, source, 10**9)
    assert reason is not None
    assert reason.startswith("a 6 h 00 min input as opus at 48000 Hz, 8 channels, ~638 kbit/s")
    assert "choose a lower bitrate or quality, or fewer channels" in reason


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (1_382_400_000, "1.4 GB"),
        (350_000_000, "350.0 MB"),
        (12_345, "12.3 kB"),
        (12, "12 bytes"),
        (1_000_000_000, "1.0 GB"),
        (1_000_000, "1.0 MB"),
        (1_000, "1.0 kB"),
        (999, "999 bytes"),
    ],
)
def test_human_bytes(count: int, shown: str) -> None:
    assert human_bytes(count) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(7200, "2 h 00 min"), (7530, "2 h 05 min"), (200, "3 min 20 s"), (12.4, "12 s")],
)
def test_human_duration(seconds: float, shown: str) -> None:
    assert human_duration(seconds) == shown


def kbps(fmt: str, source: InputShape | None = None, **options: object) -> int | None:
    chosen = ConversionOptions.model_validate(options)
    return output_bound(FORMATS[fmt], chosen, source or shape()).kbps


def test_the_bitrate_assumed_for_each_lossy_target() -> None:
    # LAME VBR: its largest frame, 320 kbit/s from 32 kHz up, 160 below.
    assert kbps("mp3", shape(sample_rate=32000)) == 320
    assert kbps("mp3", shape(sample_rate=24000)) == 160
    assert kbps("mp3", bitrate=96) == 96  # CBR: what was asked
    # Vorbis levels are nominal for stereo, with 25 % headroom.
    assert kbps("ogg") == 200  # standard: level 5, 160 kbit/s
    assert kbps("ogg", shape(channels=6)) == 600
    assert kbps("ogg", shape(channels=1)) == 200
    assert kbps("ogg", bitrate=200) == 240  # the nearest level: 6, 192 kbit/s
    # Others: the bitrate asked or the preset's, with 25 % headroom.
    assert kbps("aac") == 240 and kbps("aac", quality="low") == 120
    assert kbps("opus", bitrate=100) == 125
    assert kbps("wav") is None


def test_the_reason_for_a_mono_lossy_output_and_the_limits_edge() -> None:
    source = shape(duration=3600.0, channels=1, sample_rate=44100)
    mp3 = output_bound(FORMATS["mp3"], ConversionOptions(bitrate=320), source)
    assert too_large_reason(mp3, source, mp3.bytes) is None  # exactly at the limit fits
    assert too_large_reason(mp3, source, mp3.bytes - 1) == (
        "a 1 h 00 min input as mp3 at 44100 Hz, 1 channel, ~320 kbit/s would be up to "
        "145.5 MB; the limit for one output is 145.5 MB: choose a lower bitrate or quality, "
        "or fewer channels, or split the file"
    )


def test_a_short_input_is_bounded_by_its_own_length() -> None:
    half = output_bound(FORMATS["wav"], ConversionOptions(), shape(duration=0.5, channels=1))
    assert half.bytes == int(48000 * 2 * 0.5 * 1.01 + 65536)


@pytest.mark.parametrize(
    ("fmt", "input_rate", "expected"),
    [
        ("wma", 24000, 32000),  # not 8 kHz, a divisor of 24 kHz that keeps a third of it
        ("opus", 32000, 48000),  # not 16 kHz
        ("opus", 22050, 24000),
        ("opus", 44100, 48000),
        ("mp3", 88200, 44100),  # a whole ratio, not 48 kHz
        ("mp3", 96000, 48000),
        ("mp3", 64000, 48000),  # 32 kHz would be of its family, but loses 8-16 kHz
        ("mp3", 192000, 48000),
        ("mp3", 44100, 44100),  # the input's, where the format has it
        ("wma", None, 48000),  # unknown: the fallback rate
    ],
)
def test_where_the_format_lacks_the_input_rate_no_frequency_it_holds_is_lost(
    fmt: str, input_rate: int | None, expected: int
) -> None:
    assert output_rate(FORMATS[fmt], ConversionOptions(), input_rate) == expected


def test_a_rate_asked_for_is_the_rate() -> None:
    assert output_rate(FORMATS["wma"], ConversionOptions(sample_rate=8000), 24000) == 8000
