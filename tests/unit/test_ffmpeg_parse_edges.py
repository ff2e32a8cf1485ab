"""Edges of reading ffprobe and ffmpeg that test_ffmpeg_parse.py does not reach: a
cover that says nothing of itself, the last of several sample counts, and the
waveform's finest column for a very short file."""

from __future__ import annotations

from pathlib import Path

from audioconv.adapters.ffmpeg_command import report_command
from audioconv.adapters.ffmpeg_parse import parse_probe, parse_sample_count
from audioconv.domain.media import Picture


def test_a_cover_that_says_nothing_of_itself_is_an_unnamed_picture_of_no_size() -> None:
    info = {
        "format": {"format_name": "mp3", "duration": "2.0"},
        "streams": [
            {"codec_type": "audio", "codec_name": "mp3", "sample_rate": "44100", "channels": 2},
            {"codec_type": "video", "width": "N/A", "disposition": {"attached_pic": 1}},
        ],
    }
    assert parse_probe(info, None).picture == Picture("", 0, 0)


def test_the_last_sample_count_is_the_one_that_counts() -> None:
    log = (
        "[Parsed_astats_3 @ 0x1] Number of samples: 0\n"
        "[Parsed_astats_3 @ 0x1] Number of samples: 8000\n"
        "[Parsed_astats_3 @ 0x1] Number of samples: 16001\n"
    )
    assert parse_sample_count(log) == 16001
    assert parse_sample_count("no counts here") is None


def test_a_very_short_file_draws_one_sample_per_column() -> None:
    graph = report_command("ffmpeg", Path("/i"), "flac", None, Path("/p.png"), (0.05, 0.05))
    assert graph[graph.index("-filter_complex") + 1].count(":n=1:") == 2
