"""Cue sheets as they come in the wild: encodings, remarks, pregaps, and broken ones."""

from __future__ import annotations

import codecs

import pytest

from audioconv.domain.cue_sheet import CueSheetError, decode, parse_cue

EAC_STYLE = """REM GENRE "Chanson française"
REM DATE 1999
REM DISCID 8A0B2C0D
REM COMMENT "ExactAudioCopy v1.6"
REM DISCNUMBER 2
REM TOTALDISCS 3
CATALOG 0724384260829
PERFORMER "Zoë Ångström"
TITLE "Été à Noël"
FILE "Range.wav" WAVE
  TRACK 01 AUDIO
    TITLE "Première"
    ISRC GBAYE9900001
    INDEX 01 00:00:00
  TRACK 02 AUDIO
    TITLE "Deuxième"
    PERFORMER "Zoë feat. Bob"
    FLAGS DCP
    INDEX 00 00:01:50
    INDEX 01 00:02:10
  TRACK 03 AUDIO
    TITLE "Troisième"
    INDEX 01 01:00:74
"""


def test_a_sheet_in_every_encoding_reads_the_same() -> None:
    texts = [
        EAC_STYLE.encode("utf-8"),
        codecs.BOM_UTF8 + EAC_STYLE.encode("utf-8"),
        EAC_STYLE.encode("cp1252"),
        EAC_STYLE.replace("\n", "\r\n").encode("utf-16"),  # with its BOM, CRLF lines
    ]
    sheets = [parse_cue(text) for text in texts]
    assert all(sheet == sheets[0] for sheet in sheets)
    sheet = sheets[0]
    assert sheet.title == "Été à Noël" and sheet.performer == "Zoë Ångström"
    assert sheet.file_name == "Range.wav"
    assert [t.number for t in sheet.tracks] == [1, 2, 3]
    assert [t.start for t in sheet.tracks] == [0, 2 * 75 + 10, 60 * 75 + 74]
    assert sheet.tracks[1].pregap == 1 * 75 + 50 and sheet.tracks[0].pregap is None


def test_cut_points_are_whole_samples_at_each_rate_and_the_first_track_starts_at_zero() -> None:
    sheet = parse_cue(EAC_STYLE)
    assert sheet.starts(44100) == [0, 160 * 588, 4574 * 588]
    assert sheet.starts(48000) == [0, 160 * 640, 4574 * 640]
    # A hidden first track (INDEX 01 past 0) stays part of track 1: nothing is lost.
    hidden = parse_cue('FILE "a.flac" WAVE\nTRACK 01 AUDIO\nINDEX 00 00:00:00\nINDEX 01 00:30:00\n'
                       "TRACK 02 AUDIO\nINDEX 01 01:00:00\n")  # fmt: skip
    assert hidden.starts(44100) == [0, 60 * 44100]


def test_tags_come_from_the_track_then_the_album() -> None:
    sheet = parse_cue(EAC_STYLE)
    assert sheet.tags(1) == {
        "title": "Deuxième", "artist": "Zoë feat. Bob", "album": "Été à Noël",
        "album_artist": "Zoë Ångström", "track": "2/3", "disc": "2/3", "date": "1999",
        "genre": "Chanson française", "comment": "ExactAudioCopy v1.6",
    }  # fmt: skip
    assert sheet.tags(0)["artist"] == "Zoë Ångström"
    bare = parse_cue("file album.flac wave\ntrack 1 audio\nindex 1 00:00:00\n")
    assert bare.file_name == "album.flac"
    assert bare.tags(0) == {"track": "1/1"}


def test_undefined_cp1252_bytes_are_kept_not_refused() -> None:
    assert decode(b'TITLE "a\x81b\xe9"') == 'TITLE "a\x81bé"'


@pytest.mark.parametrize(
    ("sheet", "line", "words"),
    [
        ('FILE "a.wav" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:61:00\n', 3, "not mm:ss:ff"),
        ('FILE "a.wav" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:01:75\n', 3, "frames 00-74"),
        ("TRACK 01 AUDIO\nINDEX 01 00:00:00\n", 1, "TRACK before any FILE"),
        ('FILE "a.wav" WAVE\nINDEX 01 00:00:00\n', 2, "INDEX before any TRACK"),
        ('FILE "a.wav" WAVE\nTRACK 01 AUDIO\nTITLE "x"\n', 2, "no INDEX 01"),
        (
            'FILE "a.wav" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:10:00\n'
            "TRACK 02 AUDIO\nINDEX 01 00:05:00\n",
            4,
            "must come after track 1",
        ),
        (
            'FILE "a.wav" WAVE\nTRACK 02 AUDIO\nINDEX 01 00:00:00\n'
            "TRACK 01 AUDIO\nINDEX 01 00:05:00\n",
            4,
            "track 1 after track 2",
        ),
        (
            'FILE "a.wav" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:00:00\nFILE "b.wav" WAVE\n',
            4,
            "a second FILE",
        ),
        ('FILE "a.bin" BINARY\n', 1, "data file"),
        ('FILE "a.wav" WAVE\nTRACK 01 MODE1/2352\n', 2, "not AUDIO"),
        ('FILE "a.wav" WAVE\nHELLO there\n', 2, "unknown command 'HELLO'"),
        ('TITLE "never closed\n', 1, "never closed"),
        (
            'FILE "a.wav" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:05:00\nINDEX 00 00:06:00\n',
            4,
            "out of order with INDEX 01",
        ),
    ],
)
def test_a_broken_sheet_names_its_line(sheet: str, line: int, words: str) -> None:
    with pytest.raises(CueSheetError) as caught:
        parse_cue(sheet.encode())
    assert caught.value.line == line
    assert str(caught.value).startswith(f"cue sheet line {line}: ")
    assert words in str(caught.value)


def test_what_is_not_a_sheet_at_all_is_refused_without_a_line() -> None:
    for data, words in [(b"", "no TRACK"), (b"REM only\n", "no TRACK"), (b"x\x00y", "NUL"),
                        (b"REM " * 70000, "larger than")]:  # fmt: skip
        with pytest.raises(CueSheetError, match=words) as caught:
            parse_cue(data)
        assert caught.value.line is None
