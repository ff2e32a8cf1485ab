"""Two small value rules users read back: why a source URL is refused (each reason in
its own words, at its exact limits) and the gain tags a task shows, rounded."""

from __future__ import annotations

import pytest

from audioconv.domain.gain import Gain
from audioconv.domain.source_url import MAX_URL_CHARS, BadSourceUrl, check_url_syntax, shown


@pytest.mark.parametrize(("url", "reason"), [
    ("https://h/" + "a" * (MAX_URL_CHARS - 9),
     "sourceUrl must be an http(s) URL of at most 4096 characters"),
    ("https://h/a\x7fb", "sourceUrl must not contain spaces or control characters"),
    ("https://h/a b", "sourceUrl must not contain spaces or control characters"),
    ("http://h:99999/a", "sourceUrl is not a valid URL"),
    ("ftp://h/a", "sourceUrl must be an http:// or https:// URL"),
    ("https:///a", "sourceUrl has no host"),
    ("http://user@h/a", "sourceUrl must not carry a user name or password"),
    ("http://:secret@h/a", "sourceUrl must not carry a user name or password"),
])  # fmt: skip
def test_each_refusal_says_why(url: str, reason: str) -> None:
    with pytest.raises(BadSourceUrl) as refused:
        check_url_syntax(url)
    assert str(refused.value) == reason


@pytest.mark.parametrize("url", [
    "https://h/" + "a" * (MAX_URL_CHARS - 10),  # the longest taken
    "http://h/a!b~c", "HTTPS://H/A", "https://[2001:db8::1]:8443/a?sig=1",
])  # fmt: skip
def test_these_urls_are_taken(url: str) -> None:
    assert check_url_syntax(url).hostname


def test_a_url_without_a_host_is_shown_without_one() -> None:
    assert shown("http:///a?x=1") == "http:///a?..."


def test_a_tasks_gain_tags_are_shown_rounded_with_the_album_only_when_there_is_one() -> None:
    track = Gain(-20.123456, 0.12345678)
    assert track.as_json() == {"trackGain": 2.12, "trackPeak": 0.123457, "trackLoudness": -20.12}
    album = Gain(-20.123456, 0.12345678, -21.456789, 0.98765432)
    assert album.as_json() == {
        "trackGain": 2.12, "trackPeak": 0.123457, "trackLoudness": -20.12,
        "albumGain": 3.46, "albumPeak": 0.987654, "albumLoudness": -21.46,
    }  # fmt: skip
    assert Gain.from_json(album.as_json()) == Gain(-20.12, 0.123457, -21.46, 0.987654)
