"""Reading ffprobe's and ffmpeg's output, on plain data (no ffmpeg runs here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audioconv.adapters.ffmpeg_parse import (
    ProbeLimits,
    last_line,
    parse_ebur128,
    parse_loudnorm,
    parse_probe,
    parse_probe_json,
    parse_sample_count,
    progress_seconds,
    scrub,
)
from audioconv.domain.errors import InvalidInput, UnsupportedMedia
from audioconv.domain.media import Loudness, Picture

LIMITS = ProbeLimits(max_streams=3, max_seconds=600)


def _audio(**extra: Any) -> dict[str, Any]:
    return {"codec_type": "audio", "codec_name": "mp3", "sample_rate": "44100",
            "channels": 2, "bit_rate": "192000", **extra}  # fmt: skip


def _info(*streams: dict[str, Any], **fmt: Any) -> dict[str, Any]:
    return {"streams": list(streams),
            "format": {"format_name": "mp3", "duration": "161.3", **fmt}}  # fmt: skip


def test_a_probe_of_an_mp3_with_cover_and_tags() -> None:
    cover = {"codec_type": "video", "codec_name": "mjpeg", "width": 500, "height": "400",
             "disposition": {"attached_pic": 1}}  # fmt: skip
    info = _info(_audio(tags={"TITLE": "Song"}), cover, tags={"Artist": "Band"})
    found = parse_probe(info, LIMITS)
    assert (found.format, found.demuxer, found.codec) == ("mp3", "mp3", "mp3")
    assert (found.duration, found.bitrate, found.sample_rate, found.channels) == (
        161.3, 192000, 44100, 2,
    )  # fmt: skip
    assert found.tags == {"title": "Song", "artist": "Band"}
    assert found.picture == Picture("mjpeg", 500, 400)
    assert found.loudness is None


def test_mp4_names_alac_or_m4a_by_codec_and_takes_the_first_demuxer_name() -> None:
    mp4 = {"format_name": "mov,mp4,m4a,3gp,3g2,mj2"}
    found = parse_probe(_info(_audio(codec_name="alac"), **mp4), None)
    assert (found.format, found.demuxer) == ("alac", "mov")
    assert parse_probe(_info(_audio(codec_name="aac"), **mp4), None).format == "m4a"


def test_duration_falls_back_to_the_stream_and_bitrate_to_the_container() -> None:
    info = _info(_audio(duration="2.5", bit_rate="N/A"), bit_rate="128000")
    del info["format"]["duration"]
    found = parse_probe(info, LIMITS)
    assert (found.duration, found.bitrate) == (2.5, 128000)


@pytest.mark.parametrize(
    ("info", "error", "reason"),
    [
        (_info(), UnsupportedMedia, "no audio stream"),
        (_info(_audio(), {"codec_type": "video", "codec_name": "h264"}), UnsupportedMedia,
         "contains video"),
        (_info(_audio(), _audio(), _audio(), _audio()), UnsupportedMedia,
         "has 4 streams; the limit is 3"),
        (_info(_audio(), duration="0"), UnsupportedMedia, "no measurable duration"),
        (_info(_audio(), duration="nan"), UnsupportedMedia, "no measurable duration"),
        (_info(_audio(), duration="3600"), InvalidInput, "lasts 3600 s; the limit is 600 s"),
    ],
)  # fmt: skip
def test_what_we_do_not_convert_is_refused_with_a_reason(
    info: dict[str, Any], error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        parse_probe(info, LIMITS)


def test_our_own_outputs_are_not_held_to_the_input_limits() -> None:
    found = parse_probe(_info(_audio(), _audio(), _audio(), _audio(), duration="3600"), None)
    assert found.duration == 3600


def test_unreadable_probe_output_is_unsupported_media() -> None:
    assert parse_probe_json(b'{"streams": []}') == {"streams": []}
    for text in (b"not json", b"[1, 2]"):
        with pytest.raises(UnsupportedMedia, match="unreadable probe"):
            parse_probe_json(text)


_REPORT = """[Parsed_loudnorm_{n} @ 0x55d0c0]
{{
\t"input_i" : "{i}",
\t"input_tp" : "-4.47",
\t"input_lra" : "18.06",
\t"input_thresh" : "-39.20",
\t"output_i" : "-16.58",
\t"output_tp" : "-1.50",
\t"output_lra" : "14.78",
\t"output_thresh" : "-27.71",
\t"normalization_type" : "dynamic",
\t"target_offset" : "0.58"
}}
"""


def test_loudnorm_reports_are_read_in_the_order_of_their_filters() -> None:
    log = "\n".join([
        "Input #0, flac, from 'file:a':",
        _REPORT.format(n=5, i="-14.20"),
        "[out#0/image2 @ 0x1] video:10kB audio:0kB",
        _REPORT.format(n=2, i="-27.61"),
    ])  # fmt: skip
    first, second = parse_loudnorm(log)
    assert (first.integrated, first.true_peak, first.range) == (-27.61, -4.47, 18.06)
    assert (first.threshold, first.offset) == (-39.2, 0.58)
    assert first.loudness == Loudness(-27.61, 18.06, -4.47)
    assert second.integrated == -14.2


def test_silence_has_no_loudness_and_a_broken_report_is_skipped() -> None:
    (silent,) = parse_loudnorm(_REPORT.format(n=0, i="-inf"))
    assert silent.loudness is None
    assert parse_loudnorm('[Parsed_loudnorm_1 @ 0x1] {"input_i" : "x"}') == []
    assert parse_loudnorm("no report here") == []


_SUMMARY = """[Parsed_ebur128_{n} @ 0x2780d2c0] Summary:

  Integrated loudness:
    I:         {i} LUFS
    Threshold: -50.7 LUFS

  Loudness range:
    LRA:         3.4 LU
    Threshold: -60.7 LUFS
    LRA low:   -40.7 LUFS
    LRA high:  -40.7 LUFS

  True peak:
    Peak:      -28.9 dBFS
"""


def test_ebur128_summaries_are_read_in_the_order_of_their_filters() -> None:
    log = _SUMMARY.format(n=4, i="-16.1") + _SUMMARY.format(n=2, i="-40.7")
    # ffmpeg set the graph up once before (to learn its formats): those are empty.
    unused = _SUMMARY.format(n=4, i="-70.0") + _SUMMARY.format(n=2, i="-70.0")
    assert parse_ebur128(unused + "frame=1\n" + log) == [
        Loudness(-40.7, 3.4, -28.9), Loudness(-16.1, 3.4, -28.9),
    ]  # fmt: skip
    assert parse_ebur128(_SUMMARY.format(n=0, i="-inf")) == [None]  # silence
    assert parse_ebur128("Conversion failed!") == []


def test_the_decoded_samples_astats_counted() -> None:
    log = "[Parsed_astats_9 @ 0x1] Overall\n[Parsed_astats_9 @ 0x1] Number of samples: 20000\n"
    assert parse_sample_count("[Parsed_astats_9 @ 0x1] Number of samples: 0\n" + log) == 20000
    assert parse_sample_count("Conversion failed!") is None


def test_progress_lines_give_the_output_time() -> None:
    assert progress_seconds("out_time_us=161300000\n") == 161.3
    assert progress_seconds("out_time_us=N/A") is None
    assert progress_seconds("out_time=00:02:41.300000") is None
    assert progress_seconds("progress=end") is None


def test_messages_lose_their_paths() -> None:
    src, dst = Path("/srv/work/t1/input"), Path("/srv/work/t1/output.mp3")
    text = f"file:{src}: Invalid data found; could not write {dst} or /etc/other"
    cleaned = scrub(text, {src: "the input", dst: "the output"})
    assert cleaned == "Invalid data found; could not write the output or a file"
    assert scrub("bitrate 128 kb/s", {}) == "bitrate 128 kb/s"
    assert last_line("first\n  second  \n\n") == "second"
    assert last_line("") == "unknown error"
    assert len(last_line("x" * 1000)) == 300
