"""Faithful conversions on real ffmpeg: generated sources (16/24-bit integer, 32-bit
float; 44.1, 48 and 96 kHz; mono, stereo and 5.1; lossless and lossy) into every
format, each output decoded and checked by the test itself: resolution, rate,
channels, sample count, bit-identical audio where promised, dither measured.

Short signals, module-scoped sources, the transcoder called directly: the API adds
nothing here (tests/engine/test_fidelity_api.py shows the task's fields)."""

from __future__ import annotations

import array
import hashlib
import math
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from audioconv.adapters import ffmpeg as ffmpeg_adapter
from audioconv.adapters.ffmpeg import FfmpegTranscoder
from audioconv.domain.errors import ConversionFailed
from audioconv.domain.formats import FORMATS
from audioconv.domain.job import ConversionResult
from tests.support.audio import FFMPEG, job, probe

SECONDS = 0.5
# name -> (rate, channels, ffmpeg codec, lavfi source): what each source is made of.
SOURCES: dict[str, tuple[int, int, str, str]] = {
    "s16-44k-stereo": (44100, 2, "pcm_s16le", "sine=frequency=997"),
    "s24-96k-stereo": (96000, 2, "pcm_s24le", "anoisesrc=color=pink:amplitude=0.5"),
    "f32-48k-mono": (48000, 1, "pcm_f32le", "sine=frequency=440"),
    "s24-48k-5.1": (48000, 6, "pcm_s24le", "anoisesrc=color=white:amplitude=0.3"),
    "mp3-44k-stereo": (44100, 2, "libmp3lame", "sine=frequency=997"),
}
SAMPLE_FORMAT = {"pcm_s16le": "s16", "pcm_s24le": "s24", "pcm_f32le": "f32", "libmp3lame": None}


def make_source(folder: Path, name: str) -> Path:
    rate, channels, codec, lavfi = SOURCES[name]
    path = folder / f"{name}.{'mp3' if codec == 'libmp3lame' else 'wav'}"
    layout = {1: "mono", 2: "stereo", 6: "5.1(side)"}[channels]
    extra = ("-b:a", "128k") if codec == "libmp3lame" else ()
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"{lavfi}:sample_rate={rate}:duration={SECONDS}",
         "-af", f"aformat=channel_layouts={layout}", "-c:a", codec, *extra, str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def transcoder() -> FfmpegTranscoder:
    return FfmpegTranscoder()


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fidelity")
    return {name: make_source(folder, name) for name in SOURCES}


def decoded(path: Path, codec: str = "pcm_s32le") -> bytes:
    """The file's decoded samples as ``codec``, interleaved, at its own rate."""
    return subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0",
         "-c:a", codec, "-f", codec.removeprefix("pcm_"), "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip


def stream_of(path: Path) -> dict[str, Any]:
    return next(s for s in probe(path)["streams"] if s["codec_type"] == "audio")


def convert(
    transcoder: FfmpegTranscoder, src: Path, dst: Path, target: str, **options: Any
) -> ConversionResult:
    return transcoder.convert(src, job(transcoder.probe(src), target, **options), dst,
                              lambda _: None)  # fmt: skip


def expected_format(source: str | None, target: str) -> str | None:
    """What the issue promises a lossless target keeps."""
    if not FORMATS[target].depths:
        return None
    if source is None:
        return "s16"  # a lossy input: CD resolution
    if source == "f32" and target in ("flac", "alac"):
        return "s24"  # the most an integer format holds
    return source


def sample_format_of(stream: dict[str, Any]) -> str:
    if stream["sample_fmt"] in ("flt", "fltp"):
        return "f32"
    bits = int(stream.get("bits_per_raw_sample") or 0) or int(stream["bits_per_sample"])
    return f"s{bits}"


@pytest.mark.parametrize("source_name", sorted(SOURCES))
def test_every_source_into_every_format_keeps_what_the_format_can_hold(
    transcoder: FfmpegTranscoder, sources: dict[str, Path], tmp_path: Path, source_name: str
) -> None:
    src = sources[source_name]
    rate, channels, codec, _ = SOURCES[source_name]
    source_format = SAMPLE_FORMAT[codec]
    samples_in = len(decoded(src)) // 4 // channels
    for target, fmt in sorted(FORMATS.items()):
        where = f"{source_name} -> {target}"
        dst = tmp_path / f"{target}.{fmt.extension}"
        result = convert(transcoder, src, dst, target)
        stream = stream_of(dst)
        out_rate = int(stream["sample_rate"])
        out_channels = int(stream["channels"])
        assert out_channels == min(channels, fmt.max_channels), where
        expected_rate = (
            rate
            if rate in fmt.sample_rates
            else (48000 if target == "opus" else 44100 if rate % 44100 == 0 else 48000)
        )
        assert out_rate == expected_rate, where
        wanted = expected_format(source_format, target)
        if wanted is not None:
            assert sample_format_of(stream) == wanted, where
            assert result.output.sample_format == wanted, where
        samples_out = len(decoded(dst)) // 4 // out_channels
        scaled = samples_in * out_rate / rate
        if target in ("wav", "aiff", "flac", "mp3"):
            assert abs(samples_out - scaled) <= 1, (where, samples_out, scaled)
        elif target == "ogg":  # its last granule position (see the exact-length test)
            assert abs(_ogg_granule(dst) - scaled) <= 1, where
        elif target in ("m4a", "alac"):  # MP4 says its length in its edit list
            assert abs(int(stream["duration_ts"]) - scaled) <= 1, where
        promised = (
            wanted is not None
            and source_format is not None
            and wanted == source_format
            and out_rate == rate
            and out_channels == channels
        )
        assert result.verified is (True if promised else None), where
        if promised:  # checked here too, not only by the code under test
            assert hashlib.md5(decoded(dst)).digest() == hashlib.md5(decoded(src)).digest()
        assert (result.inexact is None) == (target not in ("aac", "wma")), where


def test_a_lossy_input_says_what_a_higher_bitrate_or_a_lossless_copy_adds(
    transcoder: FfmpegTranscoder, sources: dict[str, Path], tmp_path: Path
) -> None:
    src = sources["mp3-44k-stereo"]
    up = convert(transcoder, src, tmp_path / "up.mp3", "mp3", bitrate=320)
    assert up.warnings == ("the input is 128 kbit/s MP3: 320 kbit/s adds size, not quality",)
    assert int(stream_of(tmp_path / "up.mp3")["bit_rate"]) > 300_000  # converted as asked
    capped = convert(transcoder, src, tmp_path / "cap.mp3", "mp3", bitrate=320, upscale=False)
    assert int(stream_of(tmp_path / "cap.mp3")["bit_rate"]) <= 130_000
    assert "capped at its 128 kbit/s" in capped.warnings[0]
    lossless = convert(transcoder, src, tmp_path / "l.flac", "flac")
    assert lossless.warnings and "(lossy)" in lossless.warnings[0]
    same = convert(transcoder, src, tmp_path / "same.m4a", "m4a", bitrate=128)
    assert same.warnings == ()


def test_a_reduction_is_dithered_not_truncated(
    transcoder: FfmpegTranscoder, tmp_path: Path
) -> None:
    """24-bit silence then a -90 dBFS tone, to 16-bit: TPDF dither leaves a flat noise
    floor of about -101 dBFS in the silence (truncation would leave digital zero there)
    and keeps the tone, which rounding alone would turn into distortion."""
    src = tmp_path / "quiet.wav"
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"sine=frequency=1000:sample_rate=44100:duration={SECONDS}",
         "-af", f"volume=-90dB,adelay={SECONDS}s:all=1", "-ac", "1", "-c:a", "pcm_s24le",
         str(src)],
        check=True,
    )  # fmt: skip
    dst = tmp_path / "quiet.flac"
    result = convert(transcoder, src, dst, "flac", bitDepth=16)
    assert sample_format_of(stream_of(dst)) == "s16" and result.verified is None
    samples = array.array("h", decoded(dst, "pcm_s16le"))
    half = len(samples) // 2
    silence = samples[: half - 100]
    floor = 20 * math.log10(math.sqrt(sum(v * v for v in silence) / len(silence)) / 32768)
    assert -106 < floor < -96, floor
    assert len(set(silence)) >= 3  # noise, not one value


def test_multichannel_and_odd_layouts_map_to_what_the_encoder_takes(
    transcoder: FfmpegTranscoder, tmp_path: Path
) -> None:
    quad = tmp_path / "four.aiff"
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", "sine=sample_rate=44100:duration=0.3", "-af", "aformat=channel_layouts=4.0",
         "-c:a", "pcm_s16be", str(quad)],
        check=True,
    )  # fmt: skip
    convert(transcoder, quad, tmp_path / "four.opus", "opus")
    opus = stream_of(tmp_path / "four.opus")
    assert (opus["channels"], opus["channel_layout"]) == (4, "quad")
    speex = tmp_path / "voice.ogg"  # Speex decodes to a layout ffmpeg cannot name
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", "sine=sample_rate=16000:duration=0.3", "-c:a", "libspeex", str(speex)],
        check=True,
    )  # fmt: skip
    convert(transcoder, speex, tmp_path / "voice.m4a", "m4a")
    assert stream_of(tmp_path / "voice.m4a")["channels"] == 1


def test_the_length_is_sample_exact_where_the_container_can_say_it(
    transcoder: FfmpegTranscoder, tmp_path: Path
) -> None:
    """An impulse in a sine of an odd number of samples: every format that can say its
    length gives exactly those samples back; WMA keeps its start in place and pads its
    end; raw ADTS cannot say it, and the task says so."""
    for rate, targets in ((44100, ("mp3", "ogg", "flac", "alac", "m4a", "wav", "aiff", "wma")),
                          (48000, ("opus",))):  # fmt: skip
        count = rate + 1
        src = tmp_path / f"odd{rate}.wav"
        subprocess.run(
            [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
             "-i", f"aevalsrc='0.2*sin(2*PI*440*t)+0.7*eq(n,4410)':s={rate}:d={count / rate}",
             "-c:a", "pcm_s16le", str(src)],
            check=True,
        )  # fmt: skip
        assert len(decoded(src)) // 4 == count
        for target in targets:
            dst = tmp_path / f"out{rate}.{target}"
            result = convert(transcoder, src, dst, target)
            samples = array.array("i", decoded(dst))
            peak = max(range(len(samples)), key=lambda i: abs(samples[i]))
            where = f"{rate} -> {target}"
            if target in ("m4a", "alac"):
                assert int(stream_of(dst)["duration_ts"]) == count, where
                assert _elst_duration(dst) == count, where  # the edit list, in samples
            elif target == "ogg":
                # The last granule position says the exact count; ffmpeg 6.0's own decoder
                # drops up to 128 of the last samples when the last packet is a long block.
                assert _ogg_granule(dst) == count, where
                assert count - 128 <= len(samples) <= count, where
            elif target == "wma":
                assert count <= len(samples) < count + 2048, where
                assert abs(peak - 4410) <= 2, where  # the start stays in place
                assert result.inexact is not None
            else:
                assert len(samples) == count, where
            if target not in ("wma",):
                assert abs(peak - 4410) <= 2, (where, peak)


def _ogg_granule(path: Path) -> int:
    """The granule position of an Ogg file's last page: its sample count (Vorbis)."""
    data = path.read_bytes()
    at = data.rindex(b"OggS")
    (granule,) = struct.unpack("<q", data[at + 6 : at + 14])
    return int(granule)


def _elst_duration(path: Path) -> int:
    """The first edit's duration in an MP4 file's edit list (version 0)."""
    data = path.read_bytes()
    at = data.index(b"elst")
    (duration,) = struct.unpack(">I", data[at + 12 : at + 16])
    return int(duration)


def test_a_lossless_output_that_does_not_decode_to_the_input_fails(
    transcoder: FfmpegTranscoder,
    sources: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The proof is checked, not assumed: a STREAMINFO MD5 that differs from the input's
    decoded samples (as a broken encoder would leave it) fails the conversion."""
    monkeypatch.setattr(ffmpeg_adapter, "flac_md5", lambda path: "0" * 32)
    with pytest.raises(ConversionFailed, match="does not decode to the input's samples"):
        convert(transcoder, sources["s24-96k-stereo"], tmp_path / "bad.flac", "flac")
