"""A probe at its limits: exactly as many streams and seconds as allowed pass, a file
that names neither its container nor its codec is read as naming nothing, and each
refusal says why in our words."""

from __future__ import annotations

from typing import Any

import pytest

from audioconv.adapters.ffmpeg_parse import ProbeLimits, parse_probe
from audioconv.domain.errors import InvalidInput, UnsupportedMedia

LIMITS = ProbeLimits(max_streams=2, max_seconds=60)
AUDIO = {"codec_type": "audio", "codec_name": "flac"}


def _info(*streams: dict[str, Any], duration: str = "1.0") -> dict[str, Any]:
    return {"format": {"format_name": "flac", "duration": duration}, "streams": list(streams)}


def test_exactly_the_allowed_streams_and_seconds_pass() -> None:
    cover = {"codec_type": "video", "disposition": {"attached_pic": 1}}
    assert parse_probe(_info(AUDIO, cover, duration="60"), LIMITS).duration == 60.0
    with pytest.raises(UnsupportedMedia) as streams:
        parse_probe(_info(AUDIO, cover, cover), LIMITS)
    assert str(streams.value) == "the file has 3 streams; the limit is 2"
    with pytest.raises(InvalidInput) as seconds:
        parse_probe(_info(AUDIO, duration="60.5"), LIMITS)
    assert str(seconds.value) == "the audio lasts 60 s; the limit is 60 s"


def test_a_short_file_passes_and_one_without_a_length_is_refused() -> None:
    assert parse_probe(_info(AUDIO, duration="0.5"), LIMITS).duration == 0.5
    for duration in ("0", "-1", "nan", "N/A"):
        with pytest.raises(UnsupportedMedia) as refused:
            parse_probe(_info(AUDIO, duration=duration), LIMITS)
        assert str(refused.value) == "the audio has no measurable duration"


def test_each_refusal_of_what_a_file_holds_is_in_our_words() -> None:
    with pytest.raises(UnsupportedMedia) as silent:
        parse_probe(_info({"codec_type": "data"}), LIMITS)
    assert str(silent.value) == "the file contains no audio stream"
    with pytest.raises(UnsupportedMedia) as video:
        parse_probe(_info(AUDIO, {"codec_type": "video"}), LIMITS)
    assert str(video.value) == "the file contains video; upload an audio file"


def test_a_file_that_names_no_container_or_codec_names_nothing() -> None:
    found = parse_probe({"format": {"duration": "1"}, "streams": [{"codec_type": "audio"}]}, None)
    assert (found.format, found.demuxer, found.codec) == (None, "", "")
