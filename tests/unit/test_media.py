"""What a task shows of its input and output file, and what it stores for the worker:
``Probe``, ``Loudness`` and ``Picture`` on plain data."""

from __future__ import annotations

from typing import Any

import pytest

from audioconv.domain.media import Loudness, Picture, Probe

LOUD = Loudness(integrated=-14.5, range=6.25, true_peak=-1.0)

PROBE = Probe(
    format="m4a",
    demuxer="mov,mp4,m4a,3gp,3g2,mj2",
    codec="aac",
    duration=12.5,
    bitrate=192000,
    sample_rate=44100,
    channels=2,
    tags={"title": "Song", "artist": "Band"},
    picture=Picture("mjpeg", 600, 400),
    loudness=LOUD,
)


def test_users_see_a_files_format_codec_length_quality_and_loudness() -> None:
    assert PROBE.as_dict() == {
        "format": "m4a",
        "codec": "aac",
        "duration": 12.5,
        "bitrate": 192000,
        "sampleRate": 44100,
        "channels": 2,
        "loudness": {"integrated": -14.5, "range": 6.25, "truePeak": -1.0},
        "loudnessReason": None,
        "bitDepth": None,
        "sampleFormat": None,
    }


def test_users_see_the_resolution_of_lossless_audio() -> None:
    hires = Probe("flac", "flac", "flac", 1.0, None, 96000, 2, {}, sample_format="s24")
    assert (hires.as_dict()["bitDepth"], hires.as_dict()["sampleFormat"]) == (24, "s24")
    floating = Probe("wav", "wav", "pcm_f32le", 1.0, None, 48000, 2, {}, sample_format="f32")
    assert (floating.bit_depth, floating.as_dict()["sampleFormat"]) == (32, "f32")


def test_a_file_not_measured_yet_shows_no_loudness() -> None:
    bare = Probe("wav", "wav", "pcm_s16le", 1.0, None, None, None, {})
    assert bare.as_dict()["loudness"] is None
    assert bare.picture is None and bare.loudness is None


def test_the_stored_probe_holds_what_the_worker_needs_besides_what_users_see() -> None:
    assert PROBE.as_record() == {
        **PROBE.as_dict(),
        "demuxer": "mov,mp4,m4a,3gp,3g2,mj2",
        "tags": {"title": "Song", "artist": "Band"},
        "layout": None,
        "picture": ["mjpeg", 600, 400],
    }
    bare = Probe("wav", "wav", "pcm_s16le", 1.0, None, None, None, {})
    assert bare.as_record()["picture"] is None


def test_a_stored_probe_reads_back_as_the_same_probe() -> None:
    assert Probe.from_record(PROBE.as_record()) == PROBE
    bare = Probe("wav", "wav", "pcm_s16le", 1.0, None, None, None, {})
    assert Probe.from_record(bare.as_record()) == bare


def test_a_stored_probe_read_back_has_numbers_of_the_right_kind() -> None:
    # JSON columns may give integers back for floats and strings for numbers.
    record: dict[str, Any] = {
        **PROBE.as_record(),
        "duration": 12,
        "picture": ["png", "32", "16"],
        "loudness": {"integrated": "-14", "range": 3, "truePeak": "-1.5"},
    }
    probe = Probe.from_record(record)
    assert probe is not None
    assert probe.duration == 12.0 and isinstance(probe.duration, float)
    assert probe.picture == Picture("png", 32, 16)
    assert isinstance(probe.picture.width, int) and isinstance(probe.picture.height, int)
    assert probe.loudness == Loudness(-14.0, 3.0, -1.5)
    assert all(isinstance(v, float) for v in probe.loudness.as_json().values())


def test_a_stored_probe_without_tags_reads_back_with_no_tags() -> None:
    record = {**PROBE.as_record(), "tags": None}
    probe = Probe.from_record(record)
    assert probe is not None and probe.tags == {}
    del record["tags"]
    probe = Probe.from_record(record)
    assert probe is not None and probe.tags == {}


def test_the_stored_tags_are_a_copy_of_the_records() -> None:
    record = {**PROBE.as_record(), "tags": {"title": "Song"}}
    probe = Probe.from_record(record)
    record["tags"]["title"] = "Changed"
    assert probe is not None and probe.tags["title"] == "Song"


@pytest.mark.parametrize("record", [None, {}])
def test_no_probe_reads_back_as_none(record: dict[str, Any] | None) -> None:
    assert Probe.from_record(record) is None


@pytest.mark.parametrize(
    "record",
    [PROBE.as_dict(), {k: v for k, v in PROBE.as_record().items() if k != "sampleFormat"}],
)
def test_one_stored_before_it_held_all_reads_back_incomplete_and_stays_so(
    record: dict[str, Any],
) -> None:
    probe = Probe.from_record(record)
    assert probe is not None and not probe.complete  # the worker probes such a file again
    assert (probe.codec, probe.duration, probe.loudness) == ("aac", 12.5, PROBE.loudness)
    assert probe.as_dict() == {**PROBE.as_dict(), **{k: record.get(k) for k in SHOWN_LATER}}
    again = Probe.from_record(probe.as_record())  # written back (a measured loudness joins)
    assert again is not None and not again.complete
    assert Probe.from_record(PROBE.as_record()) == PROBE and PROBE.complete


# What a probe stored before the sample format was kept does not say.
SHOWN_LATER = ("bitDepth", "sampleFormat")


@pytest.mark.parametrize("value", [None, {}])
def test_no_loudness_reads_back_as_none(value: dict[str, Any] | None) -> None:
    assert Loudness.from_json(value) is None


def test_users_see_of_a_stored_probe_what_they_see_of_the_probe() -> None:
    stored = Probe.from_record(PROBE.as_record())
    assert stored is not None and stored.as_dict() == PROBE.as_dict()
    assert set(PROBE.as_dict()) == {
        "format", "codec", "duration", "bitrate", "sampleRate", "channels", "loudness",
        "loudnessReason", "bitDepth", "sampleFormat",
    }  # fmt: skip
    why = Probe.from_record({**PROBE.as_record(), "loudness": None, "loudnessReason": "quiet"})
    assert why is not None and why.as_dict()["loudnessReason"] == "quiet"
