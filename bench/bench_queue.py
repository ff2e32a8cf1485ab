"""The embedded queue as a user feels it: a short job's overhead, and fair share.

Two measurements of `audioconv serve` (SQLite, and PostgreSQL with ``--postgres``),
each against bare ffmpeg running the worker's very command line in the same run:

- ``latency``: a 10 s clip (WAV -> mp3) uploaded to an idle server, ``--tries`` times;
  each try's overhead is the time from the upload's answer to the task's
  ``processed`` (its ``updated_at``, written by the worker as it records the
  result) minus bare ffmpeg's own time on the same file, run right before it.
  Prints p50/p90 (the goal: <= 20 ms / <= 50 ms).
- ``fairness``: user A queues ``--a-files`` files of ``--a-seconds`` each (to opus,
  two slots), then user B uploads a 2 s WAV ``--tries`` times, one after the other,
  while A's backlog runs; B's wait is upload answer -> processed, against B's own
  conversion time (bare ffmpeg on B's file, in the same run). Prints both users'
  waits and B's p95 over its conversion time (the goal: <= 5 s). Before B comes, A's
  throughput alone: ``--rounds`` alternating windows of ``--alone-seconds``, bare
  ffmpeg converting A's file two at a time (the worker processes stopped) then the
  pipeline draining A's backlog; A's files a minute against bare's, median ratio.
  Run it with two ``--a-seconds`` to see that B's wait does not depend on the length
  of A's files.

Usage: .venv/bin/python bench/bench_queue.py latency [--tries 30] [--postgres]
       .venv/bin/python bench/bench_queue.py fairness [--a-seconds 120] [--a-files 100]
           [--tries 20] [--postgres]
Not part of the test suite; the figures are for reading, not asserting.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pg8000.native
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

from load import worker_command  # noqa: E402
from sampling import role_pids  # noqa: E402

from audioconv.adapters.ffmpeg import wheel_binaries  # noqa: E402
from tests.support.db import fresh_postgres_database  # noqa: E402
from tests.support.http_api import HttpApi  # noqa: E402
from tests.support.procs import BIN, free_port, running  # noqa: E402

FFMPEG, _ = wheel_binaries()


def make(path: Path, seconds: float, source: str = "sine=frequency=440") -> Path:
    args = ["-c:a", "libmp3lame", "-b:a", "64k"] if path.suffix == ".mp3" else []
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"{source}:sample_rate=44100:duration={seconds}", "-ac", "2", *args, str(path)],
        check=True,
    )  # fmt: skip
    return path


BARE_NICE = [0]


def bare(src: Path, target: str, out: Path) -> float:
    """Seconds bare ffmpeg takes to run the worker's command line on ``src`` (at
    ``--bare-nice``: 19, the worker's own, compares like with like on a shared machine)."""
    cmd = ["nice", "-n", str(BARE_NICE[0]), *worker_command(src, target, out)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


class Tasks:
    """Reads the server's tasks table directly (asking the API would take its CPU)."""

    def __init__(self, url: str | None, sqlite_file: Path) -> None:
        self.url = url
        self.sqlite_file = sqlite_file
        self._pg: Any = None

    def _rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.url is None:
            with contextlib.closing(
                sqlite3.connect(f"file:{self.sqlite_file}?mode=ro", uri=True)
            ) as conn:
                return list(conn.execute(sql.replace("%s", "?"), params).fetchall())
        if self._pg is None:
            user_host, _, database = self.url.removeprefix("postgresql+pg8000://").rpartition("/")
            user, _, hostport = user_host.partition("@")
            host, _, port = hostport.partition(":")
            self._pg = pg8000.native.Connection(user, host=host, port=int(port), database=database)
        names = {f"p{i}": v for i, v in enumerate(params)}
        query = sql
        for name in names:
            query = query.replace("%s", f":{name}", 1)
        return [tuple(row) for row in self._pg.run(query, **names)]

    def processed_at(self, task_id: int, timeout: float = 600) -> float:
        """When the worker recorded the task processed (epoch seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self._rows("SELECT status, updated_at FROM tasks WHERE id = %s", task_id)
            if rows and rows[0][0] in ("processed", "failed"):
                assert rows[0][0] == "processed", f"task {task_id} failed"
                return _epoch(rows[0][1])
            time.sleep(0.002)
        raise TimeoutError(f"task {task_id} not processed")

    def report_settled(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self._rows("SELECT count(*) FROM tasks WHERE report_due")[0][0]:
            if time.monotonic() > deadline:
                raise TimeoutError("reports still due")
            time.sleep(0.05)

    def processed_since(self, user_id: int, since: float) -> int:
        rows = self._rows(
            "SELECT updated_at FROM tasks WHERE user_id = %s AND status = 'processed'", user_id
        )
        return sum(1 for (when,) in rows if _epoch(when) >= since)


def _epoch(value: Any) -> float:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())


@contextlib.contextmanager
def server(
    tmp: Path, name: str, postgres: bool, **env: str
) -> Iterator[tuple[str, Tasks, list[psutil.Process]]]:
    """`audioconv serve` on a free port: its URL, its tasks, its worker processes."""
    data = tmp / f"data-{name}"
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_postgres_database()) if postgres else None
        settings = {"AUDIOCONV_DATA_DIR": str(data), "AUDIOCONV_QUOTA_TASKS_IN_FLIGHT": "0",
                    **({"AUDIOCONV_DATABASE_URL": url} if url else {}), **env}  # fmt: skip
        port = free_port()
        log = tmp / f"{name}.log"
        proc = stack.enter_context(running([str(BIN / "audioconv"), "serve"], settings, port, log))
        workers = [psutil.Process(p) for p in role_pids("embedded worker", under=proc.pid)]
        yield f"http://127.0.0.1:{port}", Tasks(url, data / "audioconv.db"), workers


def timing_wrapper(tmp: Path) -> tuple[Path, Path]:
    """A shell script that runs the real ffmpeg and appends ``start end`` (ns) to a log."""
    log = tmp / "ffmpeg-times.log"
    script = tmp / "ffmpeg-timed"
    script.write_text(
        "#!/bin/sh\n"
        "start=$(date +%s%N)\n"
        f'"{FFMPEG}" "$@"\n'
        "rc=$?\n"
        f'echo "$start $(date +%s%N)" >> "{log}"\n'
        "exit $rc\n"
    )
    script.chmod(0o755)
    return script, log


def latency(args: argparse.Namespace, tmp: Path) -> None:
    clip = make(tmp / "clip.wav", 10.0)
    wrapper, times = timing_wrapper(tmp)
    for postgres in [False, True] if args.postgres else [False]:
        kind = "PostgreSQL" if postgres else "SQLite"
        env = {"AUDIOCONV_FFMPEG_PATH": str(wrapper)}
        with server(tmp, f"latency-{kind}", postgres, **env) as (url, tasks, _):
            client = HttpApi(url, f"lat{kind.lower()}")
            # Warm up: the worker's imports, the first ffmpeg start.
            tasks.processed_at(client.upload(clip, "mp3")["id"])
            overheads, bares, around = [], [], []
            for _ in range(args.tries):
                tasks.report_settled()
                time.sleep(0.3)  # an idle server
                bare_seconds = bare(clip, "mp3", tmp / "bare.mp3")
                time.sleep(0.3)
                times.write_text("")
                task_id = client.upload(clip, "mp3")["id"]
                answered = time.time()
                done = tasks.processed_at(task_id)
                overheads.append((done - answered - bare_seconds) * 1000)
                bares.append(bare_seconds * 1000)
                start, end = (int(t) / 1e9 for t in times.read_text().split()[:2])
                around.append((done - answered - (end - start)) * 1000)
            print(f"{kind}: 10 s clip -> mp3, {args.tries} tries; bare ffmpeg median "
                  f"{statistics.median(bares):.0f} ms; overhead (answer -> processed minus bare) "
                  f"p50 {percentile(overheads, 50):.1f} ms, p90 {percentile(overheads, 90):.1f} "
                  f"ms (all: {', '.join(f'{o:.0f}' for o in overheads)}); minus the worker's "
                  f"own ffmpeg run: p50 {percentile(around, 50):.1f} ms, p90 "
                  f"{percentile(around, 90):.1f} ms (all: {', '.join(f'{o:.0f}' for o in around)})",
                  flush=True)  # fmt: skip


def bare_files_per_minute(src: Path, tmp: Path, seconds: float) -> float:
    """Files a minute bare ffmpeg converts ``src`` to opus, two at a time, in ``seconds``
    (a file running at the end counts for the part of it done)."""
    end = time.monotonic() + seconds
    counted: list[float] = []

    def loop(n: int) -> None:
        while time.monotonic() < end:
            start = time.monotonic()
            took = bare(src, "opus", tmp / f"alone{n}.opus")
            counted.append(min(1.0, max(0.0, end - start) / took))

    begin = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(loop, range(2)))
    return sum(counted) / (time.monotonic() - begin) * 60


def fairness(args: argparse.Namespace, tmp: Path) -> None:
    b_file = make(tmp / "b.wav", 2.0)
    a_file = make(tmp / "a.mp3", args.a_seconds, "anoisesrc=c=pink:a=0.3")
    b_bare = statistics.median(bare(b_file, "opus", tmp / "b.opus") for _ in range(5))
    print(f"A's file: {args.a_seconds:g} s; B's file: 2 s, bare ffmpeg {b_bare * 1000:.0f} ms",
          flush=True)  # fmt: skip
    for postgres in [False, True] if args.postgres else [False]:
        kind = "PostgreSQL" if postgres else "SQLite"
        slots = {"AUDIOCONV_MAX_CONCURRENT_CONVERSIONS": "2", "AUDIOCONV_REPORT_PASS": "false"}
        with server(tmp, f"fair-{kind}", postgres, **slots) as (url, tasks, workers):
            a, b = HttpApi(url, f"a{kind.lower()}"), HttpApi(url, f"b{kind.lower()}")
            for worker in workers:
                worker.suspend()
            a_ids = [a.upload(a_file, "opus")["id"] for _ in range(args.a_files)]
            ratios = []
            for _ in range(args.rounds):
                bare_rate = bare_files_per_minute(a_file, tmp, args.alone_seconds)
                before = tasks.processed_since(a.user_id, 0)
                for worker in workers:
                    worker.resume()
                time.sleep(args.alone_seconds)
                for worker in workers:
                    worker.suspend()
                # Counted when stopped: a conversion cut by the stop ends in the next window.
                done = tasks.processed_since(a.user_id, 0) - before
                ratios.append(done / args.alone_seconds * 60 / bare_rate)
                rate = done / args.alone_seconds * 60
                print(f"{kind}: A alone {rate:.1f} files/min, bare ffmpeg two at a time "
                      f"{bare_rate:.1f}: {ratios[-1]:.2f}", flush=True)  # fmt: skip
            for worker in workers:
                worker.resume()
            print(f"{kind}: A alone against bare ffmpeg, median {statistics.median(ratios):.2f}"
                  f" of {args.rounds} rounds of {args.alone_seconds:g} s", flush=True)  # fmt: skip
            waits = []
            for _ in range(args.tries):
                task_id = b.upload(b_file, "opus")["id"]
                answered = time.time()
                waits.append(tasks.processed_at(task_id) - answered)
            a_done = tasks.processed_since(a.user_id, 0)
            over = [w - b_bare for w in waits]
            print(f"{kind}: B's waits (answer -> processed), {args.tries} tries: p50 "
                  f"{percentile(waits, 50):.2f} s, p95 {percentile(waits, 95):.2f} s, max "
                  f"{max(waits):.2f} s; over B's own conversion time p95 "
                  f"{percentile(over, 95):.2f} s (goal <= 5 s); A meanwhile: {a_done} of "
                  f"{len(a_ids)} processed, the rest still queued", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["latency", "fairness"])
    parser.add_argument("--tries", type=int, default=0)
    parser.add_argument("--postgres", action="store_true", help="also PostgreSQL")
    parser.add_argument("--a-seconds", type=float, default=120.0)
    parser.add_argument("--a-files", type=int, default=100)
    parser.add_argument("--alone-seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bare-nice", type=int, default=19)
    args = parser.parse_args()
    BARE_NICE[0] = args.bare_nice
    args.tries = args.tries or (30 if args.what == "latency" else 20)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"bare ffmpeg at nice {args.bare_nice}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="audioconv-queue-") as tmpdir:
        {"latency": latency, "fairness": fairness}[args.what](args, Path(tmpdir))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
