"""Usernames and e-mail addresses have one stored spelling; file names fit on any disk."""

from __future__ import annotations

import pytest

from audioconv.domain.errors import InvalidInput
from audioconv.domain.identity import normalise_email, normalise_username
from audioconv.services.tasks import MAX_FILE_NAME_BYTES, safe_file_name


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Ann", "ann"),
        ("  ANN ", "ann"),
        ("\uff21\uff4e\uff4e", "ann"),  # fullwidth
        ("Stra\u00dfe", "strasse"),  # case folding, not just lower()
        ("A\u0308nnchen", "\u00e4nnchen"),  # combining diaeresis composed
        ("\u0410\u043d\u043d\u0430", "\u0430\u043d\u043d\u0430"),  # all Cyrillic is fine
        ("\u30a2\u30f3_2", "\u30a2\u30f3_2"),  # Katakana with ASCII digits
        ("o'brien.x-y@z+1", "o'brien.x-y@z+1"),
    ],
)
def test_usernames_are_normalised(raw: str, stored: str) -> None:
    assert normalise_username(raw) == stored


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("", "1 to 150"),
        ("a" * 151, "1 to 150"),
        ("a\u200bnn", "invisible"),  # zero-width space
        ("a\u00adnn", "invisible"),  # soft hyphen (Cf)
        ("an\u202en", "invisible"),  # right-to-left override
        ("an n", "no spaces"),
        ("an\u3000n", "no spaces"),  # ideographic space becomes a space
        ("\u0410nn", "Latin and Cyrillic"),
        ("\u03b1nn", "Latin and Greek"),
        ("ann\U0001f600", "letters, digits"),
        ("\u0301ann", "combining marks"),
        ("a" + "\u0301" * 5, "combining marks"),  # one composes into the a
    ],
)
def test_unsafe_usernames_are_refused(raw: str, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle):
        normalise_username(raw)


def test_emails_are_normalised_and_checked() -> None:
    assert normalise_email(" Ann@Example.COM ") == "ann@example.com"
    for bad in ("a@x..com", "<a@x.com>", "Ann <a@x.com>", "a@x", "a@@x.com", "a" * 250 + "@x.com"):
        with pytest.raises(InvalidInput, match="email"):
            normalise_email(bad)


@pytest.mark.parametrize(
    "name",
    ["\u00e9" * 126 + ".mp3", "\u97f3" * 100 + ".flac", "x" * 300 + ".wav", "\u00e9" * 300,
     "a.b" * 100 + "." + "e" * 40],
)  # fmt: skip
def test_long_names_are_cut_by_bytes_keeping_the_extension(name: str) -> None:
    cut = safe_file_name(name)
    assert len(cut.encode()) <= MAX_FILE_NAME_BYTES
    assert name.startswith(cut.rsplit(".", 1)[0])  # whole characters from the start
    extension = name.rsplit(".", 1)[1] if "." in name else ""
    if 0 < len(extension) <= 16:
        assert cut.endswith("." + extension)


def test_short_names_are_kept() -> None:
    assert safe_file_name("../Caf\u00e9 del Mar (live).mp3") == "Caf\u00e9 del Mar (live).mp3"
    assert safe_file_name("...") == "audio"


def test_username_limits_at_their_edges_with_the_messages_users_see() -> None:
    assert normalise_username("a" * 150) == "a" * 150
    assert normalise_username("x\u0301\u0302\u0303") == "x\u0301\u0302\u0303"  # three marks
    assert normalise_username("1") == "1"
    refusals = {
        "a" * 151: "username must be 1 to 150 characters",
        "   ": "username must be 1 to 150 characters",
        "x\u0301\u0302\u0303\u0304": "username has too many combining marks",
        "\u0301": "username has too many combining marks",
        "a b": "username may contain letters, digits and . _ - @ + ' only (no spaces or "
        "invisible characters)",
        "\u0410nn": "username mixes Latin and Cyrillic letters, which look alike; use one script",
    }
    for raw, message in refusals.items():
        with pytest.raises(InvalidInput) as refused:
            normalise_username(raw)
        assert refused.value.message == message, raw


def test_email_limits_at_their_edges_with_the_messages_users_see() -> None:
    longest = "a" * 64 + "@" + ".".join(["b" * 61] * 3) + ".com"  # 254 characters
    assert len(longest) == 254 and normalise_email(longest) == longest
    with pytest.raises(InvalidInput) as long:
        normalise_email(longest + "m")
    assert long.value.message == "email must be at most 254 characters"
    with pytest.raises(InvalidInput) as bad:
        normalise_email("a@@x.com")
    assert bad.value.message.startswith("email is not a valid address: ")
