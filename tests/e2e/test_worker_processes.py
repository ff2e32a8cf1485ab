"""``audioconv serve`` with two worker processes sharing two conversion slots: both
convert, and a worker killed mid-conversion loses nothing and disturbs nobody.

The leases are long (10 minutes) so that only the supervisor's release of the dead
process's work, not a lease running out and a sweep, can finish its task in time.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.support.audio import decoded_duration, make_audio, probe
from tests.support.http_api import HttpApi
from tests.support.procs import BIN, free_port, running

pytestmark = pytest.mark.slow
SECONDS = 600.0  # seconds of encoding each, so both are still running when one is killed
SERVE = {
    "AUDIOCONV_WORKER_PROCESSES": "2",
    "AUDIOCONV_MAX_CONCURRENT_CONVERSIONS": "2",
    "AUDIOCONV_LEASE_SECONDS": "600",
    "AUDIOCONV_REPORT_PASS": "false",
}


def _processes() -> dict[int, tuple[int, list[str]]]:
    """Every process: pid -> (parent pid, command line), paths taken to hold no spaces."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # Split on spaces too: setproctitle, imported with gunicorn, may join them.
            argv = (entry / "cmdline").read_bytes().decode(errors="replace")
            argv = argv.replace("\0", " ").split()
        except OSError:
            continue
        found[int(entry.name)] = (int(stat.rpartition(")")[2].split()[1]), argv)
    return found


def _workers(server: int) -> dict[str, int]:
    """The server's worker processes: worker id -> pid."""
    return {
        argv[4]: pid
        for pid, (parent, argv) in _processes().items()
        if parent == server and argv[2:4] == ["audioconv.embedded", "worker"]
    }


def _converting(workers: dict[str, int]) -> dict[str, str]:
    """Which worker runs ffmpeg on which upload: input file name -> worker id."""
    ids = {pid: worker_id for worker_id, pid in workers.items()}
    return {
        Path(argv[argv.index("-i") + 1]).name: ids[parent]
        for parent, argv in _processes().values()
        if parent in ids and Path(argv[0]).name.startswith("ffmpeg") and "-i" in argv
    }


def _ffmpeg_of(worker: int) -> int:
    """The pid of the ffmpeg that ``worker`` runs."""
    (pid,) = (
        pid
        for pid, (parent, argv) in _processes().items()
        if parent == worker and Path(argv[0]).name.startswith("ffmpeg")
    )
    return pid


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, nor a zombie left to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _claimant(data: Path, task_id: int) -> str:
    """The worker id that named the claim whose output the task keeps (its key holds
    the claim token: outputs/<id>/r<revision>/<token>/<name>)."""
    (output,) = (p for p in (data / "blobs" / "outputs" / str(task_id)).rglob("*") if p.is_file())
    return output.parent.name.partition(".")[0]


def _attempts(data: Path) -> dict[int, int]:
    with sqlite3.connect(data / "audioconv.db") as db:
        return dict(db.execute("SELECT id, attempts FROM tasks").fetchall())


def test_two_workers_convert_and_a_killed_ones_task_comes_back_at_once(tmp_path: Path) -> None:
    long = make_audio(tmp_path / "one.flac", SECONDS)
    shutil.copy(long, tmp_path / "two.flac")
    short = make_audio(tmp_path / "short.flac", 3.0)
    data, port = tmp_path / "data", free_port()
    env = {"AUDIOCONV_DATA_DIR": str(data), **SERVE}
    with running([str(BIN / "audioconv"), "serve"], env, port, tmp_path / "server.log") as proc:
        api = HttpApi(f"http://127.0.0.1:{port}", "gina")
        one = api.upload(long, "mp3")["id"]
        two = api.upload(tmp_path / "two.flac", "mp3")["id"]
        # One slot each: the two conversions run in the two processes at once.
        deadline = time.monotonic() + 60
        while len(converting := _converting(workers := _workers(proc.pid))) < 2:
            assert time.monotonic() < deadline, (workers, converting)
            time.sleep(0.05)
        assert set(converting) == {"one.flac", "two.flac"} and len(set(converting.values())) == 2
        killed, survivor = converting["one.flac"], converting["two.flac"]
        orphan = _ffmpeg_of(workers[killed])
        os.kill(workers[killed], signal.SIGKILL)
        # Its ffmpeg dies with it (parent-death signal), seconds before it could finish.
        deadline = time.monotonic() + 5
        while _running(orphan):
            assert time.monotonic() < deadline, "the killed worker's ffmpeg runs on"
            time.sleep(0.05)
        extra = api.upload(short, "m4a")["id"]  # taken by whichever slot frees first
        tasks = {task_id: api.wait(task_id, timeout=150) for task_id in (one, two, extra)}
        assert _workers(proc.pid)[survivor] == workers[survivor]  # the same process
        assert killed not in _workers(proc.pid)  # replaced, under a new name
        outputs = {
            task_id: api.download(task["links"]["converted"], tmp_path / f"{task_id}.out")
            for task_id, task in tasks.items()
            if task["status"] == "processed"
        }
    assert {t["status"] for t in tasks.values()} == {"processed"}, tasks
    # The dead process's task was given back (its attempt counts) and converted again
    # by another process; the survivor's ran once, undisturbed, under its first claim.
    assert _claimant(data, one) != killed and _attempts(data)[one] == 2
    assert _claimant(data, two) == survivor and _attempts(data)[two] == 1
    for task_id, codec, seconds in ((one, "mp3", SECONDS), (two, "mp3", SECONDS),
                                    (extra, "aac", 3.0)):  # fmt: skip
        assert probe(outputs[task_id])["streams"][0]["codec_name"] == codec
        assert abs(decoded_duration(outputs[task_id]) - seconds) < 0.1


def _held(data: Path) -> list[tuple[str, int, str | None]]:
    """Each task's status and attempts, and the holder of any message still queued."""
    with sqlite3.connect(data / "audioconv.db") as db:
        tasks = db.execute("SELECT status, attempts FROM tasks ORDER BY id").fetchall()
        holders = [h for (h,) in db.execute("SELECT holder FROM messages")]
    return [(status, attempts, None) for status, attempts in tasks] + [
        ("message", 0, h) for h in holders
    ]


def test_stopping_the_server_gives_back_what_every_worker_held(tmp_path: Path) -> None:
    long = make_audio(tmp_path / "one.flac", SECONDS)
    shutil.copy(long, tmp_path / "two.flac")
    data, port = tmp_path / "data", free_port()
    env = {"AUDIOCONV_DATA_DIR": str(data), **SERVE}
    log = tmp_path / "server.log"
    with running([str(BIN / "audioconv"), "serve"], env, port, log) as proc:
        api = HttpApi(f"http://127.0.0.1:{port}", "hugo")
        ids = [api.upload(path, "ogg")["id"] for path in (long, tmp_path / "two.flac")]
        deadline = time.monotonic() + 60
        while len(_converting(_workers(proc.pid))) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # the supervisor alone: it stops its children
        assert proc.wait(timeout=40) == 0
    # Both workers killed their ffmpeg and gave their task back; nothing is held.
    assert _held(data) == [("uploaded", 1, None)] * 2 + [("message", 0, None)] * 2
    with running([str(BIN / "audioconv"), "serve"], env, port, log):
        tasks = [api.wait(task_id, timeout=150) for task_id in ids]
    assert [t["status"] for t in tasks] == ["processed"] * 2, tasks
