"""The options that change the audio itself (loudness, trim, fades): their limits and the
messages users get past them, checked against the format and then against the input."""

from __future__ import annotations

from typing import Any

import pytest

from audioconv.domain.formats import FORMATS
from audioconv.domain.options import ConversionOptions, parse_options, stored_options

MP3 = FORMATS["mp3"]


@pytest.mark.parametrize(
    ("raw", "stored"),
    [({"start": 0, "end": 86400}, {"start": 0.0, "end": 86400.0}),
     ({"fadeIn": 0, "fadeOut": "2.5"}, {"fadeIn": 0.0, "fadeOut": 2.5}),
     ({"fade_in": 1}, {"fadeIn": 1.0}),
     ({"loudness": -70, "truePeak": -9}, {"loudness": -70.0, "truePeak": -9.0}),
     ({"loudness": "-5", "truePeak": 0}, {"loudness": -5.0, "truePeak": 0.0})],
)  # fmt: skip
def test_audio_options_within_their_limits_are_kept_under_their_request_names(
    raw: dict[str, Any], stored: dict[str, Any]
) -> None:
    assert parse_options(raw, MP3).as_json() == stored


@pytest.mark.parametrize(
    ("raw", "message"),
    [({"start": -0.1}, "start: Input should be greater than or equal to 0"),
     ({"end": 86400.5}, "end: Input should be less than or equal to 86400"),
     ({"fadeIn": "inf"}, "fadeIn: must be a number in plain ASCII digits (such as 192 or 1.5)"),
     ({"fadeOut": float("nan")}, "fadeOut: Input should be a finite number"),
     ({"fadeIn": "1_0"}, "fadeIn: must be a number in plain ASCII digits (such as 192 or 1.5)"),
     ({"channels": "\u0662"},
      "channels: must be a number in plain ASCII digits (such as 192 or 1.5)"),
     ({"start": 1e-320}, "start: must be 0 or at least 0.000001 in size"),
     ({"truePeak": -1e-7, "loudness": -16}, "truePeak: must be 0 or at least 0.000001 in size"),
     ({"start": 1.0, "end": 1.0000000000000002},
      "start and end leave 2.22045e-16 s of audio; a trim must keep at least 0.1 s"),
     ({"end": 0}, "end (0 s) must come after start (0 s)"),
     ({"fadeOut": -1}, "fadeOut: Input should be greater than or equal to 0"),
     ({"loudness": -4.9}, "loudness: Input should be less than or equal to -5"),
     ({"loudness": -70.1}, "loudness: Input should be greater than or equal to -70"),
     ({"loudness": -16, "truePeak": 0.1}, "truePeak: Input should be less than or equal to 0"),
     ({"truePeak": -1}, "truePeak is the ceiling of loudness normalisation: give loudness too"),
     ({"start": 5, "end": 5}, "end (5 s) must come after start (5 s)"),
     ({"start": 5.5, "end": 2}, "end (2 s) must come after start (5.5 s)")],
)  # fmt: skip
def test_audio_options_past_their_limits_are_refused_saying_why(
    raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        parse_options(raw, MP3)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("raw", "duration"),
    [({"start": 9.9}, 10.0), ({"end": 10.5}, 10.0),
     ({"start": 2, "end": 4, "fadeIn": 1, "fadeOut": 1}, 10.0),
     ({"fadeIn": 6, "fadeOut": 4}, 10.0), ({"end": 10.5, "fadeIn": 10}, 10.0)],
)  # fmt: skip
def test_trim_and_fades_within_the_audio_are_taken(raw: dict[str, Any], duration: float) -> None:
    options = parse_options(raw, MP3)
    assert options.checked_for_input(duration) is options


@pytest.mark.parametrize(
    ("raw", "duration", "message"),
    [({"start": 10}, 10.0, "start (10 s) is not before the audio's end (10 s)"),
     ({"end": 10.6}, 10.0, "end (10.6 s) is past the audio's end (10 s)"),
     ({"start": 2, "end": 4, "fadeIn": 1.5, "fadeOut": 1}, 10.0,
      "fadeIn and fadeOut (2.5 s together) must fit in the 2 s converted"),
     ({"fadeIn": 6, "fadeOut": 4.5}, 10.0,
      "fadeIn and fadeOut (10.5 s together) must fit in the 10 s converted"),
     ({"start": 4, "fadeOut": 6.5}, 10.0,
      "fadeIn and fadeOut (6.5 s together) must fit in the 6 s converted"),
     ({"end": 10.4, "fadeIn": 10.2}, 10.0,
      "fadeIn and fadeOut (10.2 s together) must fit in the 10 s converted")],
)  # fmt: skip
def test_trim_and_fades_past_the_audio_are_refused_saying_why(
    raw: dict[str, Any], duration: float, message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        parse_options(raw, MP3).checked_for_input(duration)
    assert str(refused.value) == message


def test_only_loudness_trim_and_fades_change_the_audio() -> None:
    assert not ConversionOptions().filtered
    assert not parse_options({"bitrate": 128, "channels": 1}, MP3).filtered
    for raw in ({"loudness": -16}, {"start": 0}, {"end": 3}, {"fadeIn": 0}, {"fadeOut": 1}):
        assert parse_options(raw, MP3).filtered, raw


def test_the_true_peak_ceiling_is_minus_one_unless_chosen() -> None:
    assert parse_options({"loudness": -16}, MP3).ceiling == -1.0
    assert parse_options({"loudness": -16, "truePeak": -2.5}, MP3).ceiling == -2.5
    assert parse_options({"loudness": -16, "truePeak": 0}, MP3).ceiling == 0.0


def test_stored_audio_options_read_back_as_kept() -> None:
    kept = stored_options({"loudness": -16.0, "start": 1.0, "fadeOut": 2.0})
    assert (kept.loudness, kept.start, kept.end, kept.fade_in, kept.fade_out) == (
        -16.0, 1.0, None, None, 2.0,
    )  # fmt: skip
