"""Per-task options: checked against the target, applied by ffmpeg, stored on the task,
accepted on upload and on change of format; a stream copy when nothing changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from audioconv import migrate
from audioconv.adapters.ffmpeg import FfmpegTranscoder
from audioconv.adapters.ffmpeg_command import codec_args
from audioconv.domain.formats import FORMATS
from audioconv.domain.options import parse_options
from tests.engine.media import audio_stream
from tests.support.api import ApiClient
from tests.support.audio import decoded_duration, job, make_audio, probe


@pytest.mark.parametrize(
    ("fmt", "raw", "needle"),
    [
        ("wav", {"bitrate": "192"}, "wav is lossless: it has no bitrate"),
        ("flac", {"quality": "high"}, "flac is lossless: quality presets"),
        ("aiff", {"bitrate": 128}, "lossless"),
        ("opus", {"sampleRate": 44100}, "opus sample rate must be one of 8000, 12000"),
        ("mp3", {"channels": 6}, "mp3 allows at most 2 channels"),
        ("mp3", {"sampleRate": "96000"}, "mp3 sample rate must be one of"),
        ("mp3", {"bitrate": 320, "sampleRate": 22050}, "mp3 bitrate at 22050 Hz must be 8-160"),
        ("mp3", {"bitrate": "999k"}, "mp3 bitrate must be 8-320 kbit/s"),
        ("aac", {"bitrate": "fast"}, "bitrate must be a whole number of kbit/s"),
        ("aac", {"bitrate": 128, "quality": "high"}, "either bitrate or quality"),
        ("ogg", {"quality": "ultra"}, "quality must be one of low, standard, high, best"),
        ("wma", {"channels": 0}, "channels"),
        ("m4a", {"sampleRate": -1}, "sampleRate"),
        ("opus", {"bitrate": 2}, "opus bitrate must be 6-510"),
    ],
)
def test_nonsense_options_are_refused_with_a_reason(
    fmt: str, raw: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_options(raw, FORMATS[fmt])


def test_sensible_options_are_kept_as_given() -> None:
    options = parse_options({"bitrate": "256k", "sampleRate": "48000", "channels": "1"},
                            FORMATS["mp3"])  # fmt: skip
    assert options.as_json() == {"bitrate": 256, "sampleRate": 48000, "channels": 1}
    assert parse_options({"quality": " High ", "bitrate": ""}, FORMATS["opus"]).as_json() == {
        "quality": "high"
    }
    assert parse_options({}, FORMATS["wav"]).as_json() is None


@pytest.fixture(scope="module")
def transcoder() -> FfmpegTranscoder:
    return FfmpegTranscoder()


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_audio(tmp_path_factory.mktemp("opt") / "tone.wav", 2.0)


@pytest.mark.parametrize(
    ("fmt", "raw", "rate", "channels", "kbps"),
    [
        ("mp3", {}, 44100, 2, None),  # LAME VBR -q:a 2: ~190 kbit/s on music, less on a tone
        ("mp3", {"bitrate": 96, "sampleRate": 22050, "channels": 1}, 22050, 1, (96, 96)),
        ("mp3", {"quality": "best"}, 44100, 2, (320, 320)),
        ("aac", {"bitrate": 128, "sampleRate": 32000}, 32000, 2, (100, 140)),
        ("m4a", {"quality": "low", "channels": 1}, 44100, 1, (70, 110)),
        # Opus always decodes at 48 kHz; sampleRate sets the coded bandwidth.
        ("opus", {"bitrate": 64, "sampleRate": 24000, "channels": 1}, 48000, 1, None),
        ("ogg", {"bitrate": 96, "sampleRate": 22050}, 22050, 2, None),
        ("wma", {"bitrate": 64, "channels": 1}, 44100, 1, (60, 70)),
        ("wav", {"sampleRate": 8000, "channels": 1}, 8000, 1, None),
        ("flac", {"sampleRate": 96000}, 96000, 2, None),
        ("alac", {"channels": 1}, 44100, 1, None),
        ("aiff", {"sampleRate": 48000}, 48000, 2, None),
    ],
)
def test_options_reach_the_output(
    transcoder: FfmpegTranscoder, tone: Path, tmp_path: Path, fmt: str,
    raw: dict[str, Any], rate: int, channels: int, kbps: tuple[int, int] | None,
) -> None:  # fmt: skip
    dst = tmp_path / f"out.{FORMATS[fmt].extension}"
    result = transcoder.convert(tone, job(transcoder.probe(tone), fmt, **raw), dst, lambda _: None)
    stream = audio_stream(probe(dst))
    assert (int(stream["sample_rate"]), stream["channels"]) == (rate, channels)
    if kbps is not None:
        measured = transcoder.probe(dst).bitrate or 0
        assert kbps[0] * 1000 * 0.95 <= measured <= kbps[1] * 1000 * 1.05, measured
    assert abs(decoded_duration(dst) - 2.0) < 0.1
    # What the task will show of the output, without probing it.
    shown = result.output
    assert (shown.format, shown.codec, shown.channels) == (fmt, FORMATS[fmt].probe_codec, channels)
    assert shown.sample_rate == (raw.get("sampleRate") or 44100)
    assert abs(shown.duration - decoded_duration(dst)) < 0.1  # the encoder's count, at first
    png = tmp_path / "waveform.png"
    exact = transcoder.report(tone, transcoder.probe(tone), dst, shown.duration, png)
    assert exact.output_seconds and abs(exact.output_seconds - decoded_duration(dst)) < 0.05


def test_same_codec_and_no_changes_copies_the_stream(
    transcoder: FfmpegTranscoder, tmp_path: Path
) -> None:
    adts = make_audio(tmp_path / "in.aac", 2.0, ("-c:a", "aac"))
    found = transcoder.probe(adts)
    assert codec_args(job(found, "m4a")) == ["-c:a", "copy"]
    # ADTS -> MP4 needs aac_adtstoasc; ffmpeg 6.0's mp4 muxer inserts it by itself.
    dst = tmp_path / "out.m4a"
    transcoder.convert(adts, job(found, "m4a"), dst, lambda _: None)
    assert audio_stream(probe(dst))["codec_name"] == "aac"
    assert abs(decoded_duration(dst) - decoded_duration(adts)) < 0.05
    # Anything asked that the input is not means encoding.
    for raw in ({"bitrate": 128}, {"quality": "high"}, {"channels": 1}, {"sampleRate": 48000}):
        assert codec_args(job(found, "m4a", **raw))[:2] == ["-c:a", "aac"], raw
    assert codec_args(job(found, "mp3"))[:2] == ["-c:a", "libmp3lame"]


def test_migration_0002_adds_options_to_existing_tasks(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    cfg = migrate.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(
            sa.text(
                "INSERT INTO users (id, username, email, password_hash, created_at) "
                "VALUES (1, 'u', 'u@e.com', 'x', '2026-01-01')"
            )
        )
        conn.execute(sa.text(
            "INSERT INTO tasks (user_id, file_name, input_format, output_format, input_key, "
            "status, revision, progress, attempts, notified_revision, created_at, updated_at) "
            "VALUES (1, 'a.mp3', 'mp3', 'wav', 'k', 'uploaded', 1, 0, 0, 0, '2026-01-01', "
            "'2026-01-01')"))  # fmt: skip
        command.upgrade(cfg, "head")
        assert conn.execute(sa.text("SELECT options FROM tasks")).scalar_one() is None
        command.downgrade(cfg, "0001")
        assert "options" not in {c["name"] for c in sa.inspect(conn).get_columns("tasks")}
    engine.dispose()


# --- through the API ---------------------------------------------------------------------


def test_options_on_upload_and_on_change_of_format(
    alice: ApiClient, tone: Path, tmp_path: Path
) -> None:
    response = alice.upload(tone, "mp3", bitrate="128k", sampleRate="32000", channels="1")
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["options"] == {"bitrate": 128, "sampleRate": 32000, "channels": 1}
    task = alice.wait(created["id"])
    assert task["status"] == "processed", task
    assert (task["output"]["sampleRate"], task["output"]["channels"]) == (32000, 1)
    assert task["input"]["sampleRate"] == 44100 and task["input"]["channels"] == 2

    url = f"/api/tasks/{created['id']}"
    put = alice.client.put(url, json={"newFormat": "opus", "bitrate": 48, "sampleRate": 16000},
                           headers=alice.headers)  # fmt: skip
    assert put.status_code == 200, put.get_json()
    assert put.get_json()["options"] == {"bitrate": 48, "sampleRate": 16000}
    task = alice.wait(created["id"])
    assert (task["revision"], task["status"], task["newFormat"]) == (2, "processed", "opus")
    assert task["output"]["codec"] == "opus"
    out = tmp_path / "o.opus"
    out.write_bytes(alice.get(f"{url}/converted").data)
    assert abs(decoded_duration(out) - 2.0) < 0.1

    # Same format, other options: converted again. Form fields work too; none = defaults.
    again = alice.client.put(url, data={"newFormat": "opus"}, headers=alice.headers)
    assert again.get_json()["revision"] == 3 and again.get_json()["options"] == {}
    assert alice.wait(created["id"])["status"] == "processed"


@pytest.mark.parametrize(
    ("fmt", "form", "needle"),
    [
        ("wav", {"bitrate": "320"}, "wav is lossless"),
        ("opus", {"sampleRate": "44100"}, "opus sample rate must be one of"),
        ("mp3", {"channels": "3"}, "mp3 allows at most 2 channels"),
        ("aac", {"quality": "insane"}, "quality must be one of"),
    ],
)
def test_nonsense_options_are_a_400(
    alice: ApiClient, tone: Path, fmt: str, form: dict[str, str], needle: str
) -> None:
    response = alice.upload(tone, fmt, **form)
    assert response.status_code == 400
    assert needle in response.get_json()["message"]
    assert alice.get("/api/tasks").get_json() == []


def test_nonsense_options_on_change_of_format_are_a_400(alice: ApiClient, tone: Path) -> None:
    created = alice.upload(tone, "flac").get_json()
    url = f"/api/tasks/{created['id']}"
    bad = alice.client.put(url, json={"newFormat": "flac", "bitrate": 128}, headers=alice.headers)
    assert bad.status_code == 400
    assert "flac is lossless" in bad.get_json()["message"]
    assert alice.wait(created["id"])["revision"] == 1
