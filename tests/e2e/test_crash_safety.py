"""Crash safety: ``audioconv serve`` killed with SIGKILL at random moments.

Uploads, conversions, report passes and deletions are under way at each kill.
Afterwards every upload the server accepted ends ``processed`` exactly once, with
its own bytes (never another user's) and its report pass run, no stored file is
left that no task refers to, and every deleted task is gone with its files.

Each of the first eight rounds starts an upload (killed mid-upload, mid-conversion
of the ones before, between a commit and its publish, wherever the random moment
falls), rounds 5 and 11 a deletion, and the rounds after the uploads kill the
server while it recovers and converts what is left. By default 12 rounds: every
upload, both deletions and four recovery-only rounds; ``CRASH_KILLS=20`` (or more)
adds more of the last kind (docs/testing.md).
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.audio import decoded_duration, make_audio
from tests.support.blobs import mail_files
from tests.support.http_api import HttpApi
from tests.support.procs import BIN, free_port, kill_group, running

# The report passes (about twice an encode's CPU each) run after the conversions, and
# the test waits for them: more than the default 300 s on a loaded 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
UPLOADS = 8
DELETIONS = (5, 11)
KILLS = max(int(os.environ.get("CRASH_KILLS", "12")), DELETIONS[-1] + 1)


@contextmanager
def _server(tmp_path: Path, port: int) -> Iterator[Any]:
    env = {"AUDIOCONV_DATA_DIR": str(tmp_path / "data"), "AUDIOCONV_LEASE_SECONDS": "20"}
    with running([str(BIN / "audioconv"), "serve"], env, port, tmp_path / "server.log") as proc:
        yield proc


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sigkills_at_random_moments_lose_nothing_and_leak_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash test seed: {seed}, {KILLS} kills (set CRASH_SEED and CRASH_KILLS to replay)")
    rng = random.Random(seed)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Each file has its own duration, so a converted file tells whose input it came from.
    files = [
        make_audio(tmp_path / f"in{i:02d}.mp3", 60.0 + 7 * i, ("-c:a", "libmp3lame"))
        for i in range(UPLOADS)
    ]
    accepted: dict[int, Path] = {}  # task id -> the file uploaded for it
    owner: dict[int, str] = {}
    deleted: set[int] = set()
    users: dict[str, HttpApi] = {}

    def upload(name: str, path: Path) -> None:
        api = users[name]
        try:
            response = api.post_file(path, rng.choice(["aac", "ogg", "mp3"]))
        except requests.ConnectionError:
            return  # killed mid-request: not accepted (it may still exist; checked below)
        if response.status_code == 201:
            task_id = int(response.json()["id"])
            accepted[task_id], owner[task_id] = path, name

    for kill in range(KILLS):
        with _server(tmp_path, port) as proc:
            if not users:
                users = {name: HttpApi(base, name) for name in ("alice", "bob")}
                for api in users.values():  # completion mails go to verified addresses
                    api.verify_email(tmp_path / "data" / "mail")
            pending = files[kill] if kill < len(files) else None
            if pending is not None:
                name = "alice" if kill % 2 == 0 else "bob"
                threading.Thread(target=upload, args=(name, pending), daemon=True).start()
            if kill in DELETIONS and accepted:
                victim = rng.choice(sorted(accepted))
                api = users[owner[victim]]
                try:
                    if requests.delete(f"{base}/api/tasks/{victim}", headers=api.headers,
                                       timeout=10).status_code == 204:  # fmt: skip
                        deleted.add(victim)
                except requests.ConnectionError:
                    pass
            time.sleep(rng.uniform(0.2, 2.5))
            kill_group(proc, signal.SIGKILL)

    with _server(tmp_path, port):
        seen: dict[int, dict[str, Any]] = {}
        for name, api in users.items():
            listed = api.get("/api/tasks").json()
            for task in listed:
                # Its report pass too: a waveform stored after the last start-up's
                # clean-up, its task not yet told, would be a stray file below.
                seen[task["id"]] = api.wait(task["id"], timeout=300, report=True)
                assert task["id"] not in deleted
                if task["id"] not in accepted:  # committed, but its 201 was cut by a kill
                    accepted[task["id"]] = tmp_path / task["fileName"]
                    owner[task["id"]] = name
        assert set(accepted) - deleted == set(seen), "an accepted upload was lost"
        for task_id, task in seen.items():
            api = users[owner[task_id]]
            assert task["status"] == "processed" and task["revision"] == 1, task
            assert task["links"]["waveform"] and task["output"]["loudness"], task  # reported
            original = api.download(f"/api/tasks/{task_id}/original", tmp_path / "orig")
            assert _sha(original) == _sha(accepted[task_id]), "another file's bytes"
            out = api.download(task["links"]["converted"], tmp_path / f"out{task_id}")
            expected = decoded_duration(accepted[task_id])
            assert abs(decoded_duration(out) - expected) < 0.5, (task, expected)
        mails = [m.read_text() for m in mail_files(tmp_path / "data" / "mail")]
        for task in seen.values():
            assert any(task["fileName"] in m for m in mails), f"no mail for {task}"

    # One more start: its clean-up runs before it serves; then the store holds exactly
    # what the tasks refer to.
    with _server(tmp_path, port):
        pass
    db = sqlite3.connect(tmp_path / "data" / "audioconv.db")
    rows = db.execute("SELECT input_key, output_key, waveform_key FROM tasks").fetchall()
    db.close()
    referenced = {k for row in rows for k in row if k}
    root = tmp_path / "data" / "blobs"
    stored = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert stored == referenced
    outputs = {k for k in stored if k.startswith("outputs/") and k not in {r[2] for r in rows}}
    assert len(outputs) == len(seen)  # one output each (beside it, its waveform picture)
