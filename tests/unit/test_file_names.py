"""Names every common file system takes (the album layout, a cue sheet's tracks)."""

from __future__ import annotations

import pytest

from audioconv.domain.file_names import MAX_PART_BYTES, portable_name


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("AC/DC", "AC_DC"),
        ('What? "Now": <here> | *there*\\', "What_ _Now__ _here_ _ _there__"),
        ("Trailing dots...", "Trailing dots"),
        ("...Hidden", "Hidden"),
        ("  spaced \t out  ", "spaced out"),
        ("CON", "_CON"),
        ("com1.txt", "_com1.txt"),
        ("Console", "Console"),
        ("tab\there\x00nul", "tab here_nul"),
        ("", "Unknown"),
        ("...", "Unknown"),
        ("e\u0301te\u0301", "été"),  # NFC: one code point each, as macOS shows it
    ],
)
def test_names_are_portable(text: str, name: str) -> None:
    assert portable_name(text) == name


def test_a_long_name_is_cut_whole_characters_within_its_bytes() -> None:
    name = portable_name("é" * 200)
    assert len(name.encode()) <= MAX_PART_BYTES and name == "é" * (MAX_PART_BYTES // 2)
    assert portable_name("", fallback="Track 01") == "Track 01"
