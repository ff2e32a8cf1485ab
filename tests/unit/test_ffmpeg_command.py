"""The ffmpeg command lines and what a conversion will make, on plain data (no ffmpeg)."""

from __future__ import annotations

from pathlib import Path

import pytest

from audioconv.adapters.ffmpeg_command import (
    audio_filters,
    codec_args,
    conversion_command,
    copies_stream,
    measure_command,
    output_probe,
    report_command,
)
from audioconv.adapters.ffmpeg_parse import LoudnormStats
from audioconv.domain.formats import FORMATS
from audioconv.domain.media import Picture
from tests.unit.jobs import job, probe

SRC, DST = Path("/w/input"), Path("/w/output.mp3")
MEASURED = LoudnormStats(integrated=-27.61, range=8.2, true_peak=-4.47, threshold=-39.2,
                         offset=0.58)  # fmt: skip


def _after(cmd: list[str], flag: str) -> str:
    return cmd[cmd.index(flag) + 1]


def test_the_conversion_reads_only_the_probed_demuxer_from_a_file() -> None:
    cmd = conversion_command("ffmpeg", SRC, job("mp3"), DST)
    head = cmd[: cmd.index("-i")]
    assert "-nostdin" in head and _after(head, "-protocol_whitelist") == "file,pipe"
    assert head[-2:] == ["-f", "flac"]
    assert _after(cmd, "-i") == "file:/w/input"
    assert cmd[-3:] == ["-f", "mp3", "file:/w/output.mp3"]
    assert _after(cmd, "-progress") == "pipe:1"
    assert "-af" not in cmd


def test_a_stream_copy_when_the_input_already_is_what_was_asked() -> None:
    mp3 = probe(format="mp3", demuxer="mp3", codec="mp3", sample_format=None)
    assert codec_args(job("mp3", mp3)) == ["-c:a", "copy"]
    for asked in ({"bitrate": 128}, {"channels": 1}, {"sampleRate": 48000}, {"loudness": -16},
                  {"start": 1}, {"end": 10}, {"fadeIn": 1}, {"fadeOut": 1}):  # fmt: skip
        assert not copies_stream(job("mp3", mp3, **asked)), asked
        assert codec_args(job("mp3", mp3, **asked))[:2] == ["-c:a", "libmp3lame"], asked


def test_rate_and_channels_follow_the_format_limits() -> None:
    six = probe(channels=6, sample_rate=96000)
    args = codec_args(job("mp3", six))
    assert (_after(args, "-ar"), _after(args, "-ac")) == ("48000", "2")
    assert codec_args(job("flac", six)) == ["-c:a", "copy"]
    assert codec_args(job("ogg", bitrate=110))[2:4] == ["-q:a", "3"]  # the nearest level


def test_filters_always_name_the_rate_since_loudnorm_may_resample() -> None:
    args = codec_args(job("wav", loudness=-16))
    assert _after(args, "-ar") == "44100"


def test_trim_and_fades_in_order() -> None:
    chain = audio_filters(job("mp3", start=10, end=70.5, fadeIn=2, fadeOut=3), None)
    assert chain == (
        "atrim=start=10:end=70.5,asetpts=PTS-STARTPTS,afade=t=in:st=0:d=2,afade=t=out:st=57.5:d=3"
    )
    # No end: the fade-out ends where the input does.
    assert audio_filters(job("mp3", fadeOut=1.3), None) == "afade=t=out:st=160:d=1.3"
    assert audio_filters(job("mp3", end=5), None) == "atrim=end=5,asetpts=PTS-STARTPTS"


def test_loudness_is_measured_on_what_is_converted_then_applied_linearly() -> None:
    normalise = job("mp3", loudness=-23, truePeak=-2, start=1)
    first = measure_command("ffmpeg", SRC, normalise)
    assert _after(first, "-af") == (
        "atrim=start=1,asetpts=PTS-STARTPTS,loudnorm=I=-23:TP=-2:LRA=50:print_format=json"
    )
    assert first[-3:] == ["-f", "null", "-"] and _after(first, "-loglevel") == "info"
    second = _after(conversion_command("ffmpeg", SRC, normalise, DST, measured=MEASURED), "-af")
    assert second == (
        "atrim=start=1,asetpts=PTS-STARTPTS,loudnorm=I=-23:TP=-2:LRA=50"
        ":measured_I=-27.61:measured_TP=-4.47:measured_LRA=8.20:measured_thresh=-39.20"
        ":offset=0.58:linear=true:print_format=none"
        # loudnorm works at 192 kHz and leaves the layout for the next filter to pick
        ",aresample=osr=44100:resampler=soxr:precision=28:ochl=stereo"
    )
    assert "TP=-1:" in audio_filters(job("mp3", loudness=-16), MEASURED)  # the default ceiling


def test_silence_is_not_normalised() -> None:
    silent = LoudnormStats(float("-inf"), 0.0, float("-inf"), -70.0, 0.0)
    assert audio_filters(job("mp3", loudness=-16), silent) == (
        "aresample=osr=44100:resampler=soxr:precision=28:ochl=stereo"
    )


def test_the_report_pass_measures_both_files_and_draws_both_waveforms() -> None:
    cmd = report_command("ffmpeg", SRC, "flac", DST, Path("/w/wave.png"), (161.3, 30.0))
    inputs = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "-i"]
    assert inputs == ["file:/w/input", "file:/w/output.mp3"]
    assert cmd[cmd.index("file:/w/input") - 3 : cmd.index("file:/w/input") - 1] == ["-f", "flac"]
    assert _after(cmd, "-format_whitelist").startswith("mp3,aac,mov,ogg")
    graph = _after(cmd, "-filter_complex")
    assert graph.index("[in_m]ebur128") < graph.index("[out_m]ebur128")  # input reported first
    # Each file fills the picture's 1200 columns: 8000 Hz x seconds / 1200 samples each.
    assert ":n=1076:" in graph and ":n=200:" in graph
    # The output's samples are counted: its true length.
    (branch,) = [part for part in graph.split(";") if part.startswith("[out_w]")]
    assert "astats=measure_perchannel=none:measure_overall=Number_of_samples" in branch
    assert graph.count("astats") == 1
    assert "vstack=inputs=2" in graph and cmd[-1] == "file:/w/wave.png"


def test_the_output_is_described_without_probing_it() -> None:
    made = output_probe(job("opus", probe(sample_rate=44100, channels=6)), 161.32, 2_016_500)
    assert (made.format, made.codec, made.sample_rate, made.channels) == ("opus", "opus", 48000, 6)
    assert output_probe(job("mp3", probe(channels=6)), 1.0, 1).channels == 2
    assert (made.duration, made.bitrate) == (161.32, 100_000)
    copied = output_probe(job("flac"), 10.0, 1000)
    assert (copied.codec, copied.sample_rate) == ("flac", 44100)


def test_cover_art_and_long_tags() -> None:
    with_cover = probe(picture=Picture("png", 64, 64), tags={"lyrics": "x" * 70000})
    cmd = conversion_command("ffmpeg", SRC, job("mp3", with_cover), DST)
    assert cmd[cmd.index("0:v:0") - 1 : cmd.index("0:v:0") + 3] == ["-map", "0:v:0", "-c:v", "copy"]
    assert "lyrics=" in cmd  # an over-long tag is emptied, not copied
    assert "0:v:0" not in conversion_command("ffmpeg", SRC, job("wav", with_cover), DST)


@pytest.mark.parametrize("target", sorted(FORMATS))
def test_every_format_has_a_command(target: str) -> None:
    cmd = conversion_command("ffmpeg", SRC, job(target), DST)
    assert _after(cmd, "-c:a") in (FORMATS[target].codec, "copy")
