"""Every argument of the conversion's ffmpeg command lines, on plain data: whole command
lines for the common cases, then each choice (encoder settings, resolution and dither,
rate and layout, loudness figures, fades, WMA's delay) where it changes. ffmpeg takes
a wrong argument silently or fails late, so each is written out here.
test_ffmpeg_command.py holds the broader rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from audioconv.adapters.ffmpeg_command import (
    audio_filters,
    codec_args,
    conversion_command,
    exact_length_args,
    loudnorm_filter,
    measure_command,
    output_layout,
    output_probe,
    resample_filter,
    wma_delay_filter,
)
from audioconv.adapters.ffmpeg_parse import LoudnormStats
from audioconv.domain.media import Picture
from tests.unit.jobs import job, probe

SRC, DST, MD5 = Path("/w/in"), Path("/w/out"), Path("/w/md5")
HEAD = ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-y", "-loglevel", "error",
        "-protocol_whitelist", "file,pipe", "-threads", "1"]  # fmt: skip
TAGS = ["-map", "0:a:0", "-map_metadata", "0", "-map_metadata:g", "0:s:a:0"]
MP3 = probe(format="mp3", demuxer="mp3", codec="mp3", sample_format=None, bitrate=128000)


def test_a_24_bit_flac_to_alac_keeps_its_resolution_in_32_bit_planar_samples() -> None:
    assert conversion_command("ffmpeg", SRC, job("alac", probe(sample_format="s24")), DST) == [
        *HEAD, "-f", "flac", "-i", "file:/w/in", *TAGS,
        "-c:a", "alac", "-sample_fmt", "s32p", "-bits_per_raw_sample", "24",
        "-movflags", "+faststart", "-movie_timescale", "44100",
        "-progress", "pipe:1", "-f", "ipod", "file:/w/out",
    ]  # fmt: skip
    assert codec_args(job("alac"))[2:] == ["-sample_fmt", "s16p", "-bits_per_raw_sample", "16"]


def test_a_copy_that_promises_identical_samples_writes_their_md5_from_the_same_decode() -> None:
    copy = job("flac", probe(sample_format="s24"))
    assert conversion_command("ffmpeg", SRC, copy, DST, md5=MD5) == [
        *HEAD, "-f", "flac", "-i", "file:/w/in", *TAGS, "-c:a", "copy",
        "-progress", "pipe:1", "-f", "flac", "file:/w/out",
        "-map", "0:a:0", "-map_metadata", "-1", "-c:a", "pcm_s24le", "-f", "md5", "file:/w/md5",
    ]  # fmt: skip
    # No second output without a place for it, or for a job that changes the samples.
    assert "md5" not in conversion_command("ffmpeg", SRC, copy, DST)
    assert "md5" not in conversion_command("ffmpeg", SRC, job("flac", fadeIn=1), DST, md5=MD5)


def test_a_second_input_gives_its_tags_and_a_gain_is_applied_after_everything() -> None:
    cmd = conversion_command("ffmpeg", SRC, job("mp3"), DST,
                             extra_inputs=["-i", "file:/w/tags.ffmeta"], gain_db=-1.5)  # fmt: skip
    assert cmd == [
        *HEAD, "-f", "flac", "-i", "file:/w/in", "-i", "file:/w/tags.ffmeta", *TAGS,
        "-map_metadata", "1", "-af", "volume=-1.50dB",
        "-c:a", "libmp3lame", "-q:a", "2", "-id3v2_version", "3",
        "-progress", "pipe:1", "-f", "mp3", "file:/w/out",
    ]  # fmt: skip


def test_cover_art_is_copied_as_the_attached_picture_and_long_tags_are_emptied() -> None:
    found = probe(picture=Picture("mjpeg", 64, 64),
                  tags={"lyrics": "x" * (64 * 1024 + 1), "comment": "y" * (64 * 1024)})  # fmt: skip
    cmd = conversion_command("ffmpeg", SRC, job("mp3", found), DST)
    start = cmd.index("-map", cmd.index("0:a:0"))
    assert cmd[start : start + 8] == [
        "-map", "0:v:0", "-c:v", "copy", "-disposition:v:0", "attached_pic", *TAGS[2:4],
    ]  # fmt: skip
    assert cmd[cmd.index("-metadata") : cmd.index("-metadata") + 4] == [
        "-metadata", "lyrics=", "-metadata:s:a:0", "lyrics=",
    ]  # fmt: skip
    assert "comment=" not in cmd  # 64 KiB exactly is kept


def test_the_loudness_measurement_pass() -> None:
    assert measure_command("ffmpeg", SRC, job("mp3", loudness=-16)) == [
        "ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-y", "-loglevel", "info",
        "-protocol_whitelist", "file,pipe", "-threads", "1", "-f", "flac", "-i", "file:/w/in",
        "-map", "0:a:0", "-af", "loudnorm=I=-16:TP=-1:LRA=50:print_format=json",
        "-progress", "pipe:1", "-f", "null", "-",
    ]  # fmt: skip


def test_measured_figures_are_clamped_to_what_loudnorm_accepts() -> None:
    low = LoudnormStats(integrated=-120.0, range=0.5, true_peak=-150.0, threshold=-130.0,
                        offset=-150.0)  # fmt: skip
    high = LoudnormStats(integrated=3.0, range=150.0, true_peak=120.0, threshold=5.0,
                         offset=150.0)  # fmt: skip
    normalise = job("mp3", loudness=-16)
    assert loudnorm_filter(normalise, low) == (
        "loudnorm=I=-16:TP=-1:LRA=50:measured_I=-99.00:measured_TP=-99.00:measured_LRA=0.50"
        ":measured_thresh=-99.00:offset=-99.00:linear=true:print_format=none"
    )
    assert loudnorm_filter(normalise, high) == (
        "loudnorm=I=-16:TP=-1:LRA=50:measured_I=0.00:measured_TP=99.00:measured_LRA=99.00"
        ":measured_thresh=0.00:offset=99.00:linear=true:print_format=none"
    )
    negative = LoudnormStats(-20.0, -1.0, -3.0, -30.0, 0.0)
    assert ":measured_LRA=0.00:" in loudnorm_filter(normalise, negative)


# --- encoder settings -----------------------------------------------------------------------


def test_without_upscaling_a_lossy_input_caps_the_bitrate_at_its_own() -> None:
    assert codec_args(job("ogg", MP3, upscale=False)) == ["-c:a", "libvorbis", "-q:a", "4"]
    assert codec_args(job("aac", MP3, upscale=False)) == ["-c:a", "aac", "-b:a", "128k"]
    assert codec_args(job("aac", MP3, upscale=False, bitrate=96)) == ["-c:a", "aac", "-b:a", "96k"]
    assert codec_args(job("aac", MP3)) == ["-c:a", "aac", "-b:a", "192k"]  # upscaling allowed


def test_asked_quality_or_bitrate_else_the_formats_default() -> None:
    assert codec_args(job("aac", quality="high")) == ["-c:a", "aac", "-b:a", "256k"]
    assert codec_args(job("mp3", quality="low")) == ["-c:a", "libmp3lame", "-q:a", "6"]
    assert codec_args(job("mp3", bitrate=96)) == ["-c:a", "libmp3lame", "-b:a", "96k"]
    assert codec_args(job("ogg", bitrate=160)) == ["-c:a", "libvorbis", "-q:a", "5"]
    assert codec_args(job("opus")) == ["-c:a", "libopus", "-b:a", "128k", "-ar", "48000"]
    assert codec_args(job("wav")) == ["-c:a", "pcm_s16le"] == codec_args(job("wav", MP3))


def test_a_filtered_lossless_output_keeps_the_inputs_resolution_in_its_own_codec() -> None:
    assert codec_args(job("wav", probe(sample_format="s24"), fadeIn=1)) == [
        "-c:a", "pcm_s24le", "-ar", "44100",
    ]  # fmt: skip
    assert codec_args(job("aiff", probe(sample_format="s24"), fadeIn=1))[:2] == [
        "-c:a", "pcm_s24be",
    ]  # fmt: skip


def test_a_32_bit_input_to_flac_is_dithered_to_its_24_bits() -> None:
    deep = job("flac", probe(sample_format="s32"))
    assert codec_args(deep) == [
        "-c:a", "flac", "-sample_fmt", "s32", "-bits_per_raw_sample", "24",
    ]  # fmt: skip
    assert (
        resample_filter(deep) == "aresample=osf=s32:dither_method=triangular:output_sample_bits=24"
    )


def test_rate_and_channels_are_named_only_when_they_change_or_filters_run() -> None:
    assert codec_args(job("mp3", probe(sample_rate=None), sampleRate=48000))[-2:] == [
        "-ar",
        "48000",
    ]
    assert codec_args(job("mp3", probe(channels=None), channels=1))[-2:] == ["-ac", "1"]
    unknown = probe(sample_rate=None, channels=None)
    assert codec_args(job("wav", unknown, loudness=-16)) == ["-c:a", "pcm_s16le"]
    assert codec_args(job("wav", fadeIn=1)) == ["-c:a", "pcm_s16le", "-ar", "44100"]
    assert codec_args(job("wav", channels=1)) == ["-c:a", "pcm_s16le", "-ac", "1"]


@pytest.mark.parametrize(("channels", "layout", "family"), [
    (2, "stereo", False), (3, "3.0", True), (6, "5.1", True),
])  # fmt: skip
def test_opus_takes_vorbis_channel_order_beyond_stereo(
    channels: int, layout: str, family: bool
) -> None:
    args = codec_args(job("opus", probe(channels=channels, layout=layout)))
    opus = ["-c:a", "libopus", "-b:a", "128k", "-ar", "48000"]
    assert args == ([*opus, "-mapping_family", "1"] if family else opus)


# --- resampling, layout and dither ------------------------------------------------------------


def test_dsd_is_resampled_with_its_ultrasonic_noise_cut() -> None:
    dsd = probe(format="dsf", demuxer="dsf", codec="dsd_lsbf_planar", sample_rate=2822400,
                sample_format=None, bitrate=5644800)  # fmt: skip
    assert resample_filter(job("flac", dsd)) == (
        "aresample=osr=176400:resampler=soxr:precision=28:cutoff=0.3401"
        ":osf=s32:dither_method=triangular:output_sample_bits=24"
    )


def test_after_loudnorm_the_layout_is_named_for_the_resampler() -> None:
    def final(found: object) -> str:
        return resample_filter(job("wav", found, loudness=-16))  # type: ignore[arg-type]

    stereo_16 = ":osf=s16:dither_method=triangular"
    assert final(probe(channels=6, layout="5.1(side)")) == (
        f"aresample=osr=44100:resampler=soxr:precision=28:ochl=5.1(side){stereo_16}"
    )
    assert ":ochl=5.1:" in final(probe(channels=6, layout="unknown"))  # by its count
    assert ":ochl=stereo:" in final(probe(channels=None, layout=None))  # as many as decoded
    assert ":ochl=" not in resample_filter(job("wav", probe(sample_rate=48000)))  # no loudnorm


def test_dither_names_the_output_bits_between_16_and_32() -> None:
    assert resample_filter(job("wav", probe(sample_format="s24"), bitDepth=16)) == (
        "aresample=osf=s16:dither_method=triangular"
    )
    # Filters compute in floating point: a 32-bit output is requantised to 32 bits.
    assert resample_filter(job("wav", probe(sample_format="s32"), fadeIn=1)) == (
        "aresample=osf=s32:dither_method=triangular"
    )
    assert resample_filter(job("wav", probe(sample_format="s24"))) == ""


@pytest.mark.parametrize(("target", "found", "options", "layout"), [
    ("ogg", probe(channels=2, layout="stereo"), {}, None),  # already Vorbis's
    ("ogg", probe(channels=6, layout="5.1(side)"), {}, "5.1"),
    ("mp3", probe(channels=6, layout="5.1"), {}, "stereo"),  # fewer channels
    ("mp3", probe(channels=2, layout="unknown"), {}, "stereo"),  # a lossy encoder needs one
    ("mp3", probe(channels=2, layout=None), {}, "stereo"),
    ("flac", probe(channels=2, layout="unknown"), {}, None),  # lossless keeps it
    ("wav", probe(channels=2, layout="stereo"), {"channels": 1}, "mono"),
    ("wav", probe(channels=None, layout=None), {}, None),  # nothing known
])  # fmt: skip
def test_the_layout_to_remix_to(
    target: str, found: object, options: dict[str, object], layout: str | None
) -> None:
    assert output_layout(job(target, found, **options)) == layout  # type: ignore[arg-type]


# --- filters --------------------------------------------------------------------------------


def test_a_stream_copy_runs_no_filter() -> None:
    assert audio_filters(job("flac"), None) == ""


def test_a_fade_out_starts_no_earlier_than_the_converted_part() -> None:
    short = job("mp3", start=10, end=10.5, fadeOut=0.2)
    assert audio_filters(short, None) == (
        "atrim=start=10:end=10.5,asetpts=PTS-STARTPTS,afade=t=out:st=0.3:d=0.2"
    )
    assert audio_filters(job("mp3", fadeOut=500), None) == "afade=t=out:st=0:d=500"


@pytest.mark.parametrize(("rate", "frame"), [(16000, 512), (22050, 1024), (44100, 2048),
                                             (None, 2048)])  # fmt: skip
def test_wma_starts_with_one_frame_of_silence(rate: int | None, frame: int) -> None:
    wma = job("wma", probe(sample_rate=rate))
    assert wma_delay_filter(wma) == f"adelay=delays={frame}S:all=1"
    assert audio_filters(wma, None).endswith(f"adelay=delays={frame}S:all=1")


def test_mp4_lengths_are_kept_in_samples() -> None:
    assert exact_length_args(job("alac", probe(sample_rate=48000))) == ["-movie_timescale", "48000"]
    assert exact_length_args(job("m4a", probe(sample_rate=None))) == []
    assert exact_length_args(job("flac")) == []


# --- what the conversion made -----------------------------------------------------------------


def test_the_output_is_described_from_what_was_asked() -> None:
    made = output_probe(job("wav", probe(sample_format="s24")), 161.32149, 1000)
    assert (made.format, made.demuxer, made.codec, made.duration) == (
        "wav", "wav", "pcm_s24le", 161.321)  # fmt: skip
    assert (made.sample_format, made.layout, made.tags) == ("s24", "stereo", {})
    remixed = output_probe(job("mp3", probe(channels=6, layout="5.1")), 1.0, 1000)
    assert (remixed.layout, remixed.sample_format, remixed.demuxer) == ("stereo", None, "mp3")
    copied = output_probe(job("flac", probe(sample_format="s24")), 1.0, 1000)
    assert (copied.codec, copied.sample_format) == ("flac", "s24")


def test_an_unknown_layout_is_kept_as_unknown() -> None:
    kept = output_probe(job("flac", probe(layout="unknown")), 1.0, 1000)
    assert kept.layout == "unknown"
