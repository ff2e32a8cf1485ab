"""Edges of reading ffprobe and ffmpeg that test_ffmpeg_parse.py does not reach: a
cover that says nothing of itself, the last of several sample counts, the waveform's
finest column for a very short file, WMA's delay, and failures in our words."""

from __future__ import annotations

from pathlib import Path

import pytest

from audioconv.adapters.ffmpeg_command import report_command, wma_delay_filter
from audioconv.adapters.ffmpeg_parse import (
    DAMAGED,
    parse_probe,
    parse_probe_json,
    parse_sample_count,
    reason_for,
)
from audioconv.domain.errors import UnsupportedMedia
from audioconv.domain.media import Picture
from tests.unit.jobs import job, probe


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


@pytest.mark.parametrize(
    ("rate", "frame"),
    [(8000, 512), (16000, 512), (22050, 1024), (32000, 2048), (44100, 2048), (None, 2048)],
)
def test_wma_is_delayed_by_one_frame_of_its_rate(rate: int | None, frame: int) -> None:
    wma = job("wma", probe(sample_rate=rate))
    assert wma_delay_filter(wma) == f"adelay=delays={frame}S:all=1"


def test_an_empty_probe_answer_is_no_information_and_junk_is_unreadable() -> None:
    assert parse_probe_json(b"") == {}
    for junk in (b"{not json", b"[1, 2]"):
        with pytest.raises(UnsupportedMedia) as refused:
            parse_probe_json(junk)
        assert str(refused.value) == "not an audio file we can read (unreadable probe)"


def test_a_failure_is_told_in_our_words_else_the_generic_ones() -> None:
    log = "[mov,mp4 @ 0x55d0] moov atom not found\n/tmp/x: Invalid data found"
    assert reason_for(log, "generic") == "the file is incomplete or its header is damaged"
    assert reason_for("Invalid data found when processing input", "g") == DAMAGED
    assert reason_for("something new went wrong", "conversion failed") == "conversion failed"
