"""What a cue sheet is refused for, in the exact words (and line) a user reads, and
the sheets at the edges of those rules that are read."""

from __future__ import annotations

import pytest

from audioconv.domain.cue_sheet import MAX_CUE_BYTES, CueSheetError, parse_cue

FILE = 'FILE "a.wav" WAVE\n'
ONE = "TRACK 01 AUDIO\nINDEX 01 00:00:00\n"


@pytest.mark.parametrize(("sheet", "message"), [
    (b"\xff\xfe\x00\xd8", "cue sheet: it says it is UTF-16 but is not"),
    (FILE + ONE + "\x00", "cue sheet: it holds NUL bytes: not a text file"),
    ("REM GENRE Rock\n", "cue sheet: it has no TRACK"),
    (b"REM " * 70000, "cue sheet: larger than 256 kB: not a cue sheet"),
    (FILE + ONE + "TRACK 02 AUDIO\nINDEX 01 00:00:00\n",
     "cue sheet line 4: track 2's INDEX 01 must come after track 1 (00:00:00)"),
    (FILE + "TRACK 01 AUDIO\nINDEX 01 01:00:00\nTRACK 02 AUDIO\nINDEX 01 00:30:00\n",
     "cue sheet line 4: track 2's INDEX 01 must come after track 1 (01:00:00)"),
    (FILE + "TRACK 01 AUDIO\nINDEX 01 00:05:00\nTRACK 02 AUDIO\nINDEX 00 00:04:00\n"
     "INDEX 01 00:10:00\n", "cue sheet line 4: track 2's INDEX 00 is before track 1 (00:05:00)"),
    ('REM GENRE "Rock\n' + FILE + ONE, "cue sheet line 1: a quote that is never closed"),
    (FILE + ONE + "A" * 20 + "\n", "cue sheet line 4: unknown command 'AAAAAAAAAAAAAAAAAAAA'"),
    (FILE + ONE + "A" * 21 + "\n",
     "cue sheet line 4: unknown command 'AAAAAAAAAAAAAAAAAAAA...'"),
    ('FILE "a.bin" MOTOROLA\n' + ONE,
     "cue sheet line 1: FILE type MOTOROLA is a data file, not audio"),
    ('FILE "a.bin"BINARY\n' + ONE, "cue sheet line 1: FILE type BINARY is a data file, not audio"),
    ('FILE "a.wav\n' + ONE, "cue sheet line 1: a quote that is never closed"),
    ("FILE a.wav\n" + ONE,
     "cue sheet line 1: FILE must be 'FILE \"name\" TYPE' (WAVE, FLAC, MP3...)"),
    ('FILE "" WAVE\n' + ONE,
     "cue sheet line 1: FILE must be 'FILE \"name\" TYPE' (WAVE, FLAC, MP3...)"),
    (FILE + ONE + FILE, "cue sheet line 4: a second FILE: this sheet cuts one audio file only "
                        "(the whole album in one file)"),
    (ONE, "cue sheet line 1: TRACK before any FILE"),
    (FILE + "TRACK xx AUDIO\n", "cue sheet line 2: TRACK must be 'TRACK nn AUDIO'"),
    (FILE + "TRACK 01\n", "cue sheet line 2: TRACK must be 'TRACK nn AUDIO'"),
    (FILE + "TRACK 100 AUDIO\n", "cue sheet line 2: track number 100 is not 1-99"),
    (FILE + ONE + "TRACK 01 AUDIO\n", "cue sheet line 4: track 1 after track 1"),
    (FILE + "INDEX 01 00:00:00\n", "cue sheet line 2: INDEX before any TRACK"),
    (FILE + "TRACK 01 AUDIO\nINDEX 01\n", "cue sheet line 3: INDEX must be 'INDEX nn mm:ss:ff'"),
    (FILE + "TRACK 01 AUDIO\nINDEX xx 00:00:00\n",
     "cue sheet line 3: INDEX must be 'INDEX nn mm:ss:ff'"),
    (FILE + ONE + "INDEX 01 00:01:00\n", "cue sheet line 4: track 1 has INDEX 01 twice"),
    (FILE + "TRACK 01 AUDIO\nINDEX 01 00:10:00\nINDEX 02 00:05:00\n",
     "cue sheet line 4: INDEX 02 (00:05:00) is out of order with INDEX 01 (00:10:00)"),
    (FILE + "TRACK 01 AUDIO\nINDEX 01 00:60:00\n",
     "cue sheet line 3: time '00:60:00' is not mm:ss:ff (seconds 00-59, frames 00-74)"),
    (FILE + "TRACK 01 AUDIO\nINDEX 01 00:00:75\n",
     "cue sheet line 3: time '00:00:75' is not mm:ss:ff (seconds 00-59, frames 00-74)"),
])  # fmt: skip
def test_a_sheet_is_refused_in_words_naming_its_line(sheet: str | bytes, message: str) -> None:
    with pytest.raises(CueSheetError) as refused:
        parse_cue(sheet)
    assert str(refused.value) == message


@pytest.mark.parametrize(("sheet", "starts"), [
    # A track's pregap may begin where the track before it starts.
    (FILE + ONE + "TRACK 02 AUDIO\nINDEX 00 00:00:00\nINDEX 01 00:10:00\n", [(0, None), (750, 0)]),
    (FILE + "TRACK 99 AUDIO\nINDEX 01 00:59:74\n", [(4499, None)]),  # the largest of each
    # Indexes at the same time are in order, whichever comes first in the sheet.
    (FILE + "TRACK 01 AUDIO\nINDEX 01 00:10:00\nINDEX 02 00:10:00\n", [(750, None)]),
    (FILE + "TRACK 01 AUDIO\nINDEX 02 00:10:00\nINDEX 01 00:10:00\n", [(750, None)]),
    ((FILE + ONE).encode() + b"\n" * (MAX_CUE_BYTES - len(FILE + ONE)), [(0, None)]),
])  # fmt: skip
def test_sheets_at_the_edges_of_the_rules_are_read(
    sheet: str | bytes, starts: list[tuple[int, int | None]]
) -> None:
    read = parse_cue(sheet)
    assert [(t.start, t.pregap) for t in read.tracks] == starts
    assert read.file_name == "a.wav"


def test_a_bare_file_name_may_hold_spaces() -> None:
    assert parse_cue("FILE my song.wav WAVE\n" + ONE).file_name == "my song.wav"
