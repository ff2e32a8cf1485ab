"""Bad files through the real API, and the limits on ffmpeg itself.

Each bad file ends in a 4xx or a failed task with a clear reason; ffmpeg opens
no connection (a loopback listener must see none) and no file outside its task
(a FIFO outside the task would record any open).
"""

from __future__ import annotations

import os
import random
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audioconv.adapters.ffmpeg import MAX_TAG_CHARS, FfmpegTranscoder
from audioconv.adapters.ffmpeg_command import conversion_command
from audioconv.domain.errors import ConversionFailed
from audioconv.services.dependencies import Dependencies
from tests.support.api import ApiClient
from tests.support.audio import FFMPEG, decoded_duration, job, make_audio, probe, tags_of
from tests.support.procs import fake_ffmpeg


@pytest.fixture
def listener() -> Iterator[tuple[int, list[Any]]]:
    """A loopback TCP port; the list collects every connection made to it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.settimeout(0.2)
    seen: list[Any] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                seen.append(sock.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1], seen
    stop.set()
    thread.join()
    sock.close()


@pytest.fixture
def tripwire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """A FIFO outside any task: if anything opens it for reading, the list says so."""
    fifo = tmp_path_factory.mktemp("outside") / "secret"
    os.mkfifo(fifo)
    opened: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:  # succeeds only while a reader has the FIFO open
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.005)
                continue
            opened.append("opened")
            os.close(fd)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    yield fifo, opened
    stop.set()
    thread.join()


def _m4a_head(folder: Path) -> bytes:
    song = make_audio(folder / "whole.m4a", 2.0, ("-c:a", "aac"))  # moov at the end
    return song.read_bytes()[:4096]


def _png(folder: Path) -> bytes:
    path = folder / "pic.png"
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=32x32",
                    "-frames:v", "1", str(path)], check=True)  # fmt: skip
    return path.read_bytes()


def _wav_claiming_days() -> bytes:
    """A WAV header for 8 kHz mono 8-bit whose data chunk claims 4 GB (6 days)."""
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 8000, 1, 8)
    size = 0xFFFFFF00
    header = b"RIFF" + struct.pack("<I", size + 36) + b"WAVE"
    header += b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size)
    return header + b"\x80" * 8000


def _flac_claiming_weeks(folder: Path) -> bytes:
    """A one-second FLAC whose STREAMINFO claims 2^36 - 1 samples (18 days)."""
    data = bytearray(make_audio(folder / "w.flac", 1.0).read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO comes first
    packed = int.from_bytes(data[18:26], "big") | ((1 << 36) - 1)
    data[18:26] = packed.to_bytes(8, "big")
    return bytes(data)


def _mp3_with_lying_xing(folder: Path) -> bytes:
    """A one-second mp3 whose Xing/Info header claims 2^28 frames (about 3 months)."""
    data = bytearray(make_audio(folder / "x.mp3", 1.0, ("-c:a", "libmp3lame")).read_bytes())
    at = max(data.find(b"Xing"), data.find(b"Info"))
    assert at > 0 and data[at + 7] & 1  # the frames field is present
    data[at + 8 : at + 12] = struct.pack(">I", 1 << 28)
    return bytes(data)


def _many_streams(folder: Path) -> bytes:
    path = folder / "many.mka"
    inputs = [a for _ in range(9) for a in ("-f", "lavfi", "-i", "sine=duration=1")]
    maps = [a for i in range(9) for a in ("-map", str(i))]
    subprocess.run([FFMPEG, "-v", "error", *inputs, *maps, "-c:a", "flac", str(path)],
                   check=True)  # fmt: skip
    return path.read_bytes()


def _video(folder: Path) -> bytes:
    path = folder / "clip.mkv"
    subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x64",
         "-f", "lavfi", "-i", "sine=duration=1", "-shortest", "-c:a", "flac", str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


CASES = {
    "zero bytes": (lambda d, f, p: b"", 415, "not an audio file"),
    "truncated before the index": (lambda d, f, p: _m4a_head(d), 415, "not an audio file"),
    "random bytes named .mp3": (
        lambda d, f, p: random.Random(1).randbytes(65536), 415, "not an audio file"),
    "a video": (lambda d, f, p: _video(d), 415, "contains video"),
    "an image named .mp3": (lambda d, f, p: _png(d), 415, "not an audio file"),
    "HLS playlist": (
        lambda d, f, p: (f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://{f}\n"
                         f"#EXTINF:10,\n/etc/passwd\n#EXTINF:10,\nhttp://127.0.0.1:{p}/a.mp3\n"
                         "#EXT-X-ENDLIST\n").encode(), 415, "not an audio file"),
    "concat list": (
        lambda d, f, p: (f"ffconcat version 1.0\nfile '{f}'\nfile '/etc/passwd'\n"
                         f"file 'http://127.0.0.1:{p}/a.mp3'\n").encode(),
        415, "not an audio file"),
    "FLAC claiming weeks": (lambda d, f, p: _flac_claiming_weeks(d), 400, "the limit is"),
    "mp3 with a lying Xing header": (
        lambda d, f, p: _mp3_with_lying_xing(d), 400, "the limit is"),
    "too many streams": (lambda d, f, p: _many_streams(d), 415, "the limit is 8"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_is_refused_without_touching_anything_else(
    alice: ApiClient,
    deps: Dependencies,
    tmp_path: Path,
    listener: tuple[int, list[Any]],
    tripwire: tuple[Path, list[str]],
    case: str,
) -> None:
    make, status, needle = CASES[case]
    port, connections = listener
    fifo, opened = tripwire
    bad = tmp_path / "upload.mp3"
    bad.write_bytes(make(tmp_path, fifo, port))
    response = alice.upload(bad, "mp3")
    assert response.status_code == status, response.get_json()
    assert needle in response.get_json()["message"]
    assert alice.get("/api/tasks").get_json() == []
    time.sleep(0.3)  # give a stray connection time to arrive
    assert connections == [] and opened == []


def test_playlist_slipped_past_the_upload_fails_the_task(
    alice: ApiClient, deps: Dependencies, tmp_path: Path,
    listener: tuple[int, list[Any]], tripwire: tuple[Path, list[str]],
) -> None:  # fmt: skip
    """A stored original replaced by a playlist: the worker reads it with the demuxer
    its upload was probed as, so it fails, with no connection and no outside file opened."""
    port, connections = listener
    fifo, opened = tripwire
    song = make_audio(tmp_path / "song.mp3", 1.0, ("-c:a", "libmp3lame"))
    created = alice.upload(song, "wav").get_json()
    alice.wait(created["id"])
    with deps.uow() as uow:
        task = uow.tasks.get(created["id"])
        assert task is not None
        stored = deps.settings.data_dir / "blobs" / task.input_key
    stored.write_text(f"#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1:{port}/x.mp3\n#EXTINF:1,\n{fifo}\n")
    put = alice.client.put(f"/api/tasks/{created['id']}", json={"newFormat": "flac"},
                           headers=alice.headers)  # fmt: skip
    assert put.status_code == 200
    task_json = alice.wait(created["id"])
    assert task_json["status"] == "failed"
    assert task_json["error"].startswith("the file could not be converted: ")
    time.sleep(0.3)
    assert connections == [] and opened == []


def test_wav_header_claiming_days_is_read_as_what_it_holds(
    alice: ApiClient, tmp_path: Path
) -> None:
    """ffmpeg's WAV demuxer clamps the data size to the file: one second it is."""
    liar = tmp_path / "days.wav"
    liar.write_bytes(_wav_claiming_days())
    created = alice.upload(liar, "flac").get_json()
    assert created["input"]["duration"] == pytest.approx(1.0, abs=0.01)
    task = alice.wait(created["id"])
    assert task["status"] == "processed", task
    assert task["output"]["duration"] == pytest.approx(1.0, abs=0.1)


def test_truncated_audio_converts_what_is_there(alice: ApiClient, tmp_path: Path) -> None:
    whole = make_audio(tmp_path / "whole.mp3", 4.0, ("-c:a", "libmp3lame", "-b:a", "128k"))
    half = tmp_path / "half.mp3"
    half.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    created = alice.upload(half, "flac").get_json()
    task = alice.wait(created["id"])
    assert task["status"] == "processed", task
    out = tmp_path / "out.flac"
    out.write_bytes(alice.get(f"/api/tasks/{created['id']}/converted").data)
    assert 1.5 < decoded_duration(out) < 2.5


def test_a_megabyte_tag_is_dropped_the_rest_kept(alice: ApiClient, tmp_path: Path) -> None:
    meta = tmp_path / "meta.txt"  # a 1 MB argument would exceed Linux's 128 KiB limit
    meta.write_text(";FFMETADATA1\ntitle=Kept\ncomment=" + "x" * (1 << 20) + "\n")
    song = tmp_path / "big-tag.flac"
    subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", "-i", str(meta),
         "-map", "0", "-map_metadata", "1", str(song)],
        check=True,
    )  # fmt: skip
    assert len(tags_of(probe(song))["comment"]) == 1 << 20
    created = alice.upload(song, "mp3").get_json()
    task = alice.wait(created["id"])
    assert task["status"] == "processed", task
    out = tmp_path / "out.mp3"
    out.write_bytes(alice.get(f"/api/tasks/{created['id']}/converted").data)
    tags = tags_of(probe(out))
    assert tags["title"] == "Kept"
    assert len(tags.get("comment", "")) <= MAX_TAG_CHARS
    assert out.stat().st_size < 100_000


# --- the limits on the ffmpeg child --------------------------------------------------------


@pytest.mark.parametrize("launcher", ["prlimit", "preexec"])
def test_children_run_with_cpu_and_memory_limits(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    launcher: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Limits are set by prlimit where it exists, else by a preexec function
    (the priority: tests/integration/test_ffmpeg.py)."""
    import audioconv.adapters.ffmpeg as ffmpeg_adapter

    if launcher == "preexec":
        monkeypatch.setattr(ffmpeg_adapter, "_PRLIMIT", None)
    else:
        assert ffmpeg_adapter._PRLIMIT, "prlimit is on every Debian"
    src = make_audio(tmp_path / "a.wav", 1.0)
    real = FfmpegTranscoder()
    fake = fake_ffmpeg(tmp_path, 'echo "cpu=$(ulimit -t) as=$(ulimit -v)" >&2; exit 1')
    transcoder = FfmpegTranscoder(
        fake, real.ffprobe, memory_mb=300,
        cpu_seconds_per_input_second=2.0, cpu_floor_seconds=10,
    )  # fmt: skip
    with pytest.raises(ConversionFailed):
        transcoder.convert(src, job(real.probe(src), "mp3"), tmp_path / "o.mp3", lambda _: None)
    # What the child said goes to the log (users get our words: issue 18).
    assert f"cpu=12 as={300 * 1024}" in caplog.text


@pytest.mark.parametrize(
    ("script", "limits", "message"),
    [
        # Spins on the CPU: RLIMIT_CPU stops it.
        ("while :; do :; done", {"cpu_seconds_per_input_second": 0, "cpu_floor_seconds": 1},
         "CPU time limit of 1 s"),
        # Waits forever without CPU (one process, as ffmpeg is): the wall-clock limit.
        ("exec sleep 60", {"wall_floor_seconds": 1}, "longer than its limit of 2 s"),
    ],
    ids=["cpu", "wall-clock"],
)  # fmt: skip
def test_a_runaway_ffmpeg_is_stopped_with_a_reason(
    tmp_path: Path, script: str, limits: dict[str, float], message: str
) -> None:
    src = make_audio(tmp_path / "a.wav", 0.5)
    real = FfmpegTranscoder()
    transcoder = FfmpegTranscoder(fake_ffmpeg(tmp_path, script), real.ffprobe, **limits)
    started = time.monotonic()
    with pytest.raises(ConversionFailed, match=message):
        transcoder.convert(src, job(real.probe(src), "mp3"), tmp_path / "o.mp3", lambda _: None)
    assert time.monotonic() - started < 10


def test_memory_limit_fails_cleanly(tmp_path: Path) -> None:
    src = make_audio(tmp_path / "a.wav", 1.0)
    transcoder = FfmpegTranscoder(memory_mb=16)
    found = FfmpegTranscoder().probe(src)
    with pytest.raises(ConversionFailed, match="memory limit is 16 MiB"):
        transcoder.convert(src, job(found, "mp3"), tmp_path / "o.mp3", lambda _: None)


def test_command_is_confined(tmp_path: Path) -> None:
    src = make_audio(tmp_path / "a.ogg", 1.0, ("-c:a", "libvorbis"))
    transcoder = FfmpegTranscoder()
    found = transcoder.probe(src)
    cmd = conversion_command(transcoder.ffmpeg, src, job(found, "mp3"), tmp_path / "o.mp3")
    before_input = cmd[: cmd.index("-i")]
    assert "-nostdin" in before_input
    assert before_input[before_input.index("-protocol_whitelist") + 1] == "file,pipe"
    assert before_input[-2:] == ["-f", "ogg"]
    assert cmd[cmd.index("-i") + 1] == f"file:{src}"
    assert cmd[-1] == f"file:{tmp_path / 'o.mp3'}"
