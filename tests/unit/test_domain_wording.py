"""Small domain rules at their edges, each as a user meets it: the words of an option
refused for a format, what an MPEG or IFF input is taken for, how a set of discs
numbers its tracks in an album's folder, what a cue sheet says about its disc, and
where a long name is cut."""

from __future__ import annotations

import pytest

from audioconv.domain.album_layout import TrackInfo, album_path
from audioconv.domain.cue_sheet import CueSheetError, parse_cue
from audioconv.domain.file_names import portable_name
from audioconv.domain.formats import FORMATS, detect_format
from audioconv.domain.options import parse_options, requested_options
from audioconv.services.tasks import safe_file_name

SHEET = 'FILE "a.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n'


@pytest.mark.parametrize(("target", "reason"), [
    ("mp3", "mp3 is lossy: bitDepth applies to lossless formats"),
    ("flac", "flac bitDepth must be one of 16, 24"),
])  # fmt: skip
def test_a_bit_depth_a_format_does_not_hold_is_refused_in_words(target: str, reason: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_options({"bitDepth": 32}, FORMATS[target])
    assert str(refused.value) == reason


def test_wav_holds_32_bit_floats_but_not_other_depths() -> None:
    assert parse_options({"bitDepth": 32}, FORMATS["wav"]).bit_depth == 32
    with pytest.raises(ValueError) as refused:
        parse_options({"bitDepth": 12}, FORMATS["wav"])
    assert str(refused.value) == "wav bitDepth must be one of 16, 24, 32"


def test_a_bit_depth_that_is_no_number_says_which_are() -> None:
    with pytest.raises(ValueError) as refused:
        requested_options({"bitDepth": "deep"})
    assert str(refused.value) == (
        "bitDepth must be one of 16, 24, 32 bits: Input should be a valid integer, "
        "unable to parse string as an integer"
    )


@pytest.mark.parametrize(("demuxer", "codec", "found"), [
    ("mp3", "mp3", "mp3"), ("mp3", "mp2", "mp2"), ("mp3", "mp1", "mp2"),
    ("iff", "pcm_s8", None),  # 8SVX: not DSD
    ("iff", "dsd_msbf", "dff"),
])  # fmt: skip
def test_what_an_input_is_taken_for(demuxer: str, codec: str, found: str | None) -> None:
    assert detect_format(demuxer, codec) == found


@pytest.mark.parametrize(("disc", "prefix"), [
    ("1/2", "1-03"),  # the first disc of two
    ("2", "2-03"),  # a second disc, however many there are
    ("1/1", "03"), ("1", "03"),  # one disc: plain track numbers
])  # fmt: skip
def test_tracks_of_a_set_of_discs_are_numbered_by_disc(disc: str, prefix: str) -> None:
    track = TrackInfo("x.flac", {"title": "Song", "album": "A", "artist": "B", "track": "3",
                                 "disc": disc}, 61.0, 0)  # fmt: skip
    assert album_path(track) == f"B/A/{prefix} Song.flac"


def test_a_cue_sheets_disc_and_its_count() -> None:
    assert parse_cue("REM DISCNUMBER 1\nREM TOTALDISCS 2\n" + SHEET).tags(0)["disc"] == "1/2"
    assert parse_cue("REM DISCNUMBER 1\n" + SHEET).tags(0)["disc"] == "1"
    assert "disc" not in parse_cue("REM TOTALDISCS 2\n" + SHEET).tags(0)  # which one is unsaid


def test_a_cue_sheet_wrong_as_a_whole_names_no_line() -> None:
    with pytest.raises(CueSheetError) as refused:
        parse_cue("REM GENRE Rock\n")
    assert (str(refused.value), refused.value.line) == ("cue sheet: it has no TRACK", None)


def test_a_long_name_is_cut_between_characters_never_inside_one() -> None:
    assert safe_file_name("é" * 150 + ".flac") == "é" * 97 + ".flac"  # 194 + 5 bytes
    assert portable_name("a" + "é" * 100) == "a" + "é" * 59  # 119 of 120 bytes
