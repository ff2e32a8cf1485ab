"""Pure domain rules on plain data: formats and their detection, option limits and their
wording, throttling, and the messages the pipeline passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from audioconv.domain.errors import ConversionFailed, InvalidInput, PayloadTooLarge, TooManyRequests
from audioconv.domain.formats import FORMATS, detect_format, parse_format
from audioconv.domain.identity import normalise_username
from audioconv.domain.options import OPTION_FIELDS, ConversionOptions, parse_options, stored_options
from audioconv.domain.throttle import LOGIN_ACCOUNT, Rule, Throttle
from audioconv.services.messages import TaskRef

T0 = datetime(2026, 1, 1, tzinfo=UTC)

# --- formats ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mp3", ".mp3", "MP3", " .Mp3 "])
def test_a_format_is_named_with_or_without_its_dot(name: str) -> None:
    assert parse_format(name) is FORMATS["mp3"]


@pytest.mark.parametrize("name", [None, "", "mp4", "m p3", "mp3.", "..."])
def test_an_unknown_format_is_refused_listing_the_known_ones(name: Any) -> None:
    with pytest.raises(ValueError) as refused:
        parse_format(name)
    assert str(refused.value) == (
        f"unknown format {name!r}; supported: aac, aiff, alac, flac, m4a, mp3, ogg, opus, wav, wma"
    )


@pytest.mark.parametrize(
    ("demuxers", "codec", "ours"),
    [("mp3", "mp3", "mp3"), ("aac", "aac", "aac"), ("mov,mp4,m4a,3gp,3g2,mj2", "aac", "m4a"),
     ("mov,mp4,m4a,3gp,3g2,mj2", "alac", "alac"), ("ogg", "vorbis", "ogg"),
     ("ogg", "opus", "opus"), ("asf", "wmav2", "wma"), ("wav", "pcm_s16le", "wav"),
     ("flac", "flac", "flac"), ("aiff", "pcm_s16be", "aiff"),
     ("matroska,webm", "opus", "mka"), ("webm", "vorbis", "mka"),
     ("matroska", "flac", "mka"), ("caf", "alac", "caf"),
     ("hls", "aac", None), ("image2", "", None), ("", "", None)],
)  # fmt: skip
def test_inputs_are_known_by_container_and_codec(
    demuxers: str, codec: str, ours: str | None
) -> None:
    assert detect_format(demuxers, codec) == ours


def test_lossless_formats_have_no_presets_and_lossy_ones_a_standard_one() -> None:
    assert [n for n, f in FORMATS.items() if f.lossless] == ["alac", "wav", "flac", "aiff"]
    assert FORMATS["wav"].default_args == ()
    assert FORMATS["mp3"].default_args == ("-q:a", "2")
    assert FORMATS["aac"].default_args == ("-b:a", "192k")
    assert FORMATS["ogg"].presets == {
        "low": ("-q:a", "3"), "standard": ("-q:a", "5"), "high": ("-q:a", "7"),
        "best": ("-q:a", "9"),
    }  # fmt: skip
    assert FORMATS["opus"].presets == {
        "low": ("-b:a", "64k"), "standard": ("-b:a", "128k"), "high": ("-b:a", "192k"),
        "best": ("-b:a", "256k"),
    }  # fmt: skip


# --- options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "raw", "message"),
    [("mp3", {"speed": 2}, f"unknown option 'speed'; options are {', '.join(OPTION_FIELDS)}"),
     ("mp3", {"quality": "ultra"}, "quality must be one of low, standard, high, best"),
     ("mp3", {"quality": 3}, "quality must be one of low, standard, high, best"),
     ("mp3", {"bitrate": 0}, "bitrate must be a whole number of kbit/s (e.g. 192): "
                             "Input should be greater than or equal to 1"),
     ("mp3", {"channels": 9}, "channels: Input should be less than or equal to 8"),
     ("mp3", {"channels": 3}, "mp3 allows at most 2 channels"),
     ("mp3", {"bitrate": 128, "quality": "low"}, "give either bitrate or quality, not both"),
     ("wav", {"quality": "low"}, "wav is lossless: quality presets apply to lossy formats"),
     ("wav", {"sampleRate": 1234}, "wav sample rate must be one of 8000, 11025, 12000, 16000, "
                                   "22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000, "
                                   "176400, 192000 Hz"),
     ("mp3", {"bitrate": 7}, "mp3 bitrate must be 8-320 kbit/s"),
     ("mp3", {"bitrate": 321}, "mp3 bitrate must be 8-320 kbit/s"),
     ("mp3", {"bitrate": 31, "sampleRate": 32000}, "mp3 bitrate at 32000 Hz must be 32-320 kbit/s"),
     ("mp3", {"bitrate": 161, "sampleRate": 16000}, "mp3 bitrate at 16000 Hz must be 8-160 kbit/s"),
     ("mp3", {"bitrate": 65, "sampleRate": 12000}, "mp3 bitrate at 12000 Hz must be 8-64 kbit/s"),
     ("mp3", {"speed": 1, "quality": "x"},
      "quality must be one of low, standard, high, best; "
      f"unknown option 'speed'; options are {', '.join(OPTION_FIELDS)}")],
)  # fmt: skip
def test_options_a_format_cannot_honour_are_refused_saying_why(
    fmt: str, raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        parse_options(raw, FORMATS[fmt])
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("fmt", "raw", "stored"),
    [("mp3", {"bitrate": 8}, {"bitrate": 8}), ("mp3", {"bitrate": "320K"}, {"bitrate": 320}),
     ("mp3", {"bitrate": 32, "sampleRate": 32000}, {"bitrate": 32, "sampleRate": 32000}),
     ("mp3", {"bitrate": 160, "sampleRate": 16000}, {"bitrate": 160, "sampleRate": 16000}),
     ("mp3", {"bitrate": 8, "sampleRate": 8000}, {"bitrate": 8, "sampleRate": 8000}),
     ("mp3", {"channels": 2, "quality": "BEST"}, {"channels": 2, "quality": "best"}),
     ("aac", {"bitrate": 512, "sampleRate": 96000}, {"bitrate": 512, "sampleRate": 96000}),
     ("flac", {"sampleRate": 192000, "channels": 8}, {"sampleRate": 192000, "channels": 8}),
     ("wav", {"bitrate": "", "quality": None}, None), ("ogg", {}, None)],
)  # fmt: skip
def test_options_within_the_limits_are_kept(
    fmt: str, raw: dict[str, Any], stored: dict[str, Any] | None
) -> None:
    assert parse_options(raw, FORMATS[fmt]).as_json() == stored


def test_stored_options_read_back_as_they_were_kept() -> None:
    assert stored_options(None) == ConversionOptions()
    assert stored_options({}).as_json() is None
    kept = stored_options({"bitrate": 96, "sampleRate": 22050, "channels": 1})
    assert (kept.bitrate, kept.sample_rate, kept.channels, kept.quality) == (96, 22050, 1, None)
    assert stored_options({"quality": "high"}).quality == "high"


# --- usernames ----------------------------------------------------------------------------


def test_usernames_take_up_to_three_combining_marks_on_a_letter() -> None:
    # A letter with no precomposed form keeps its marks through NFKC.
    three = "q\u0301\u0302\u0303"
    assert normalise_username(three) == three
    with pytest.raises(InvalidInput, match=r"^username has too many combining marks$"):
        normalise_username("q\u0301\u0302\u0303\u0304")
    assert normalise_username("q\u0301a\u0301\u0302\u0303") == "q\u0301\u00e1\u0302\u0303"


def test_refusals_of_usernames_say_what_is_allowed() -> None:
    with pytest.raises(InvalidInput) as spaced:
        normalise_username("ann lee")
    assert str(spaced.value) == (
        "username may contain letters, digits and . _ - @ + ' only "
        "(no spaces or invisible characters)"
    )
    with pytest.raises(InvalidInput) as mixed:
        normalise_username("\u0430nn\u03b1")
    assert str(mixed.value) == (
        "username mixes Latin and Cyrillic and Greek letters, which look alike; use one script"
    )


# --- throttles ----------------------------------------------------------------------------


RULE = Rule("test", free=2, base=timedelta(seconds=10), ceiling=timedelta(seconds=60),
            window=timedelta(hours=1))  # fmt: skip


def test_a_rule_names_its_key() -> None:
    assert RULE.on("10.0.0.1") == (RULE, "test:10.0.0.1")
    assert LOGIN_ACCOUNT.on("ann", "10.0.0.1") == (LOGIN_ACCOUNT, "login-user:ann:10.0.0.1")


def test_a_throttle_lets_the_free_events_through_then_doubles_the_wait() -> None:
    throttle = Throttle("test:x", 0, T0)
    waits = []
    for _ in range(6):
        throttle.record(RULE, T0)
        waits.append(throttle.wait_seconds(T0))
    assert waits == [0, 10, 20, 40, 60, 60]  # blocked from the 2nd: base, doubled, capped
    assert throttle.count == 6


def test_the_wait_is_whole_seconds_rounded_up_and_never_negative() -> None:
    throttle = Throttle("test:x", 5, T0, blocked_until=T0 + timedelta(seconds=10))
    assert throttle.wait_seconds(T0) == 10
    assert throttle.wait_seconds(T0 + timedelta(seconds=0.5)) == 10
    assert throttle.wait_seconds(T0 + timedelta(seconds=9.1)) == 1
    assert throttle.wait_seconds(T0 + timedelta(seconds=10)) == 0
    assert throttle.wait_seconds(T0 + timedelta(seconds=99)) == 0
    naive = Throttle("test:x", 5, T0, blocked_until=datetime(2026, 1, 1, 0, 0, 3))
    assert naive.wait_seconds(T0) == 3


def test_a_quiet_window_forgives_but_a_blocked_key_keeps_counting() -> None:
    throttle = Throttle("test:x", 0, T0)
    throttle.record(RULE, T0)
    throttle.record(RULE, T0)
    hour = T0 + RULE.window
    throttle.record(RULE, hour)  # quiet for a whole window: starts again from zero
    assert (throttle.count, throttle.window_started_at, throttle.wait_seconds(hour)) == (
        1, hour, 0)  # fmt: skip
    stuck = Throttle("test:y", 50, T0, blocked_until=hour + timedelta(seconds=30))
    stuck.record(RULE, hour)  # still blocked: the count goes on
    assert stuck.count == 51 and stuck.window_started_at == T0
    assert stuck.wait_seconds(hour) == 60
    almost = Throttle("test:z", 2, T0)
    almost.record(RULE, hour - timedelta(seconds=1))  # one second short of a window
    assert almost.count == 3


def test_a_long_run_of_failures_stays_at_the_ceiling() -> None:
    throttle = Throttle("test:x", 10_000, T0)
    throttle.record(RULE, T0)
    assert throttle.wait_seconds(T0) == 60


# --- errors and messages ------------------------------------------------------------------


def test_errors_carry_what_the_user_reads() -> None:
    assert PayloadTooLarge.over(1000).message == "upload is larger than the limit of 1000 bytes"
    busy = TooManyRequests("slow down", retry_after=7)
    assert (busy.message, busy.retry_after, str(busy)) == ("slow down", 7, "slow down")
    assert TooManyRequests("later").retry_after == 0
    failed = ConversionFailed("broken file")
    assert (failed.reason, str(failed)) == ("broken file", "broken file")


@pytest.mark.parametrize(
    ("data", "ref"),
    [({"taskId": 3, "revision": 2}, TaskRef(3, 2)),
     ({"taskId": "3", "revision": "1"}, TaskRef(3, 1)),
     ({"taskId": 2**31 - 1, "revision": 1, "format": "mp3"}, TaskRef(2**31 - 1, 1))],
)  # fmt: skip
def test_task_messages_are_read(data: dict[str, Any], ref: TaskRef) -> None:
    assert TaskRef.from_message(data) == ref


@pytest.mark.parametrize(
    ("data", "reason"),
    [({}, "not a task message"), ({"taskId": 3}, "not a task message"),
     ({"taskId": "x", "revision": 1}, "not a task message"),
     ({"taskId": None, "revision": 1}, "not a task message"),
     ({"taskId": 0, "revision": 1}, "out of range"), ({"taskId": 1, "revision": 0}, "out of range"),
     ({"taskId": 2**31, "revision": 1}, "out of range")],
)  # fmt: skip
def test_messages_that_are_not_ours_are_refused(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        TaskRef.from_message(data)
