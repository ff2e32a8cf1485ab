"""Benchmark of the embedded service against bare ffmpeg, run the same way in the same run.

Prints:
- throughput at each parallelism in ``--jobs`` (default 1..cores): ``--files-per-job``
  files per conversion slot (the issue's shape: 180 s MP3s to m4a, four per core),
  against the same conversions by bare ffmpeg (the worker's very command line, at
  normal priority, without limits) at the same parallelism, measured two ways:
  - drain: the files are uploaded while the worker processes are stopped (SIGSTOP), then
    the clock runs from SIGCONT until the last one is processed (seen in the server's
    database file, read every 50 ms): the queue draining, as after a load. ``--rounds``
    rounds of bare ffmpeg then the drain, alternated so that both see the same machine;
    each round's ratio bare/ours in time (1.0 = the pipeline adds nothing) and their
    median;
  - the whole job, printed beside each drain: the same drain, the clock stopped only
    when the last report pass (loudness, exact length, waveform) is recorded too,
    against bare ffmpeg's encode alone: what a user gets, at the cores' pace; run it
    with ``--source flac`` and ``--target mp3``, ``m4a`` and ``opus``;
  - end to end: upload -> processed with conversions running as the uploads arrive;
- API latency (p50/p95 of GET /api/tasks) idle and while conversions saturate the cores;
- memory: the API processes' PSS while they receive a long WAV (``--long-hours``,
  2 h = 1.3 GB), and the worker's while it converts it (ffmpeg children apart).

``--worker-processes`` sets how many worker processes share the slots (0, the default:
the server's own choice, one per 8 slots), so the drain can be run at --jobs 1..N with
one process or several; the worker CPU figure is all of them together.

Usage: .venv/bin/python bench/bench_service.py [--jobs 1,2] [--files-per-job 4]
       [--seconds 180] [--target m4a] [--rounds 3] [--long-hours 2] [--worker-processes 0]
Not part of the test suite; the figures are for reading, not asserting.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

from load import make_flac, make_upload, worker_command  # noqa: E402
from sampling import PeakSampler, ffmpeg_rss_kib, role_pids, role_pss_kib  # noqa: E402

from audioconv.adapters.ffmpeg import wheel_binaries  # noqa: E402
from audioconv.domain.formats import FORMATS  # noqa: E402
from tests.support.http_api import HttpApi  # noqa: E402
from tests.support.procs import BIN, free_port, running  # noqa: E402

FFMPEG, _ = wheel_binaries()
FINISHED = ("processed", "failed")
MAX_TASKS = 1000


def make_wav(path: Path, seconds: float) -> Path:
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}", "-ac", "2", str(path)],
        check=True,
    )  # fmt: skip
    return path


class Client(HttpApi):
    def status(self, task_id: int) -> str:
        return str(self.task(task_id)["status"])

    def timed_list(self) -> float:
        start = time.perf_counter()
        self.get("/api/tasks?max=20")
        return time.perf_counter() - start


def latency(client: Client, duration: float, workers: int = 4) -> list[float]:
    end = time.monotonic() + duration
    samples: list[float] = []

    def loop() -> None:
        while time.monotonic() < end:
            samples.append(client.timed_list())

    with ThreadPoolExecutor(workers) as pool:
        for _ in range(workers):
            pool.submit(loop)
    return samples


def describe(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[int(len(ms) * 0.95) - 1] if ms else float("nan")
    return f"p50 {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  ({len(ms)} requests)"


def bare_ffmpeg(files: list[Path], out_dir: Path, parallel: int, target: str) -> float:
    """The same conversions by bare ffmpeg at the same parallelism: the very command
    line the worker runs, without its limits or its low priority, its progress lines
    thrown away; seconds."""
    extension = FORMATS[target].extension
    commands = [worker_command(f, target, out_dir / f"{f.stem}.{extension}") for f in files]

    def one(cmd: list[str]) -> None:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)

    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, commands))
    return time.perf_counter() - start


def wait_done(db: Path, pending: set[int]) -> float:
    """Wait until every task in ``pending`` is finished; when (``time.time()``) the last
    one was first seen finished.

    Read from the server's own SQLite file, read-only (WAL lets it beside the writers),
    every 50 ms: asking the API instead made it work for the benchmark, and ffmpeg runs
    at the lowest priority, so every cycle that took was taken from what is measured
    (under SCHED_IDLE, one list request every 0.2 s cost the drain several percent;
    flat-out polling a third).
    """
    ids = sorted(pending)
    query = (f"SELECT count(*) FROM tasks WHERE status IN ('processed', 'failed') "
             f"AND id IN ({', '.join('?' * len(ids))})")  # fmt: skip
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        while conn.execute(query, ids).fetchone()[0] < len(ids):
            time.sleep(0.05)
    return time.time()


def wait_reported(db: Path, pending: set[int]) -> float:
    """Wait until no task in ``pending`` has its report pass due; when (``time.time()``)."""
    ids = sorted(pending)
    query = (f"SELECT count(*) FROM tasks WHERE report_due AND id IN "
             f"({', '.join('?' * len(ids))})")  # fmt: skip
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        while conn.execute(query, ids).fetchone()[0]:
            time.sleep(0.05)
    return time.time()


def settle(client: Client) -> None:
    """Wait until no task has a report pass due: the reports that follow one round's
    conversions would otherwise run in the next round's slots and time."""
    while any(t.get("report") for t in client.get(f"/api/tasks?max={MAX_TASKS}").json()):
        time.sleep(0.5)


def convert_all(client: Client, db: Path, files: list[Path], target: str) -> float:
    """Upload -> processed, conversions running as the uploads arrive."""
    start = time.time()
    return wait_done(db, {client.upload(f, target)["id"] for f in files}) - start


def drain(
    client: Client, server: Any, db: Path, files: list[Path], target: str
) -> tuple[float, float, float]:
    """Seconds from resuming the stopped workers until the files they find queued are
    done, the CPU seconds the worker processes themselves (not their ffmpeg
    children) used, and seconds until their report passes are done too."""
    pids = role_pids("audioconv.embedded worker", under=server.pid)
    workers = [psutil.Process(pid) for pid in pids]

    def cpu() -> float:
        return sum(sum(w.cpu_times()[:2]) for w in workers)

    for worker in workers:
        worker.suspend()
    try:
        queued = {client.upload(f, target)["id"] for f in files}
    finally:
        before = cpu()
        start = time.time()
        for worker in workers:
            worker.resume()
    done = wait_done(db, queued)
    used = cpu() - before
    return done - start, used, wait_reported(db, queued) - start


def latency_idle_and_loaded(
    client: Client, db: Path, files: list[Path], target: str
) -> tuple[list[float], list[float]]:
    """GET /api/tasks latency idle, then while the files convert."""
    settle(client)
    idle = latency(client, 5)
    loaded: list[float] = []
    load = threading.Thread(target=lambda: loaded.extend(latency(client, 5)))
    load.start()
    convert_all(client, db, files, target)
    load.join()
    return idle, loaded


def serve(tmp: Path, name: str, **env: str) -> tuple[Any, str, Path]:
    """`audioconv serve` on a free port with its own data folder: the server, its URL
    and its database file."""
    data = tmp / f"data-{name}"
    settings = {"AUDIOCONV_DATA_DIR": str(data), **env}
    port = free_port()
    args = [str(BIN / "audioconv"), "serve"]
    log = tmp / f"{name}.log"
    return running(args, settings, port, log), f"http://127.0.0.1:{port}", data / "audioconv.db"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    cores = os.cpu_count() or 1
    parser.add_argument("--jobs", default=",".join(str(j) for j in range(1, cores + 1)))
    parser.add_argument("--files-per-job", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=180.0, help="length of each file")
    parser.add_argument("--target", default="m4a", choices=sorted(FORMATS))
    parser.add_argument("--source", default="mp3", choices=["mp3", "flac"],
                        help="200 kb/s MP3s (the issue's) or FLAC pink noise")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="bare/drain rounds per --jobs")
    parser.add_argument("--long-hours", type=float, default=2.0, help="0 skips the memory run")
    parser.add_argument("--worker-processes", type=int, default=0,
                        help="worker processes sharing the slots; 0: the server's")  # fmt: skip
    args = parser.parse_args()
    jobs = [int(j) for j in args.jobs.split(",")]

    print(f"machine: {cores} cores, load average {os.getloadavg()[0]:.1f}; files of "
          f"{args.seconds:.0f} s, {args.source} -> {args.target}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="audioconv-bench-") as tmpdir:
        tmp = Path(tmpdir)
        suffix = f".{args.source}"
        source = (make_upload if args.source == "mp3" else make_flac)(tmp / f"in0{suffix}",
                                                                      args.seconds)  # fmt: skip
        files = [source] + [Path(shutil.copy(source, tmp / f"in{i}{suffix}"))
                            for i in range(1, max(jobs) * args.files_per_job)]  # fmt: skip
        for parallel in jobs:
            batch = files[: parallel * args.files_per_job]
            slots = {"AUDIOCONV_MAX_CONCURRENT_CONVERSIONS": str(parallel),
                     "AUDIOCONV_WORKER_PROCESSES": str(args.worker_processes)}  # fmt: skip
            server, url, db = serve(tmp, f"jobs{parallel}", **slots)
            ratios: list[float] = []
            wholes: list[float] = []
            with server as proc:
                client = Client(url, f"bench{parallel}")
                # The worker must have started (imports, start-up sweep) before it is
                # stopped, or the first drain would time its start as well.
                convert_all(client, db, batch[:1], args.target)
                workers = len(role_pids("audioconv.embedded worker", under=proc.pid))
                for _ in range(args.rounds):
                    settle(client)
                    bare = bare_ffmpeg(batch, tmp, parallel, args.target)
                    drained, feeding, whole = drain(client, proc, db, batch, args.target)
                    ratios.append(bare / drained)
                    wholes.append(bare / whole)
                    print(f"--jobs {parallel}: {len(batch)} files; bare ffmpeg {bare:6.2f} s, "
                          f"drain {drained:6.2f} s: bare/ours {ratios[-1]:.2f}; whole job "
                          f"(reports done) {whole:6.2f} s: bare/ours {wholes[-1]:.2f}; the "
                          f"worker processes' own CPU ({workers} of them) "
                          f"{feeding / len(batch) * 1000:.0f} ms a file",
                          flush=True)  # fmt: skip
                settle(client)
                ours = convert_all(client, db, batch, args.target)
                if parallel == max(jobs):
                    idle, loaded = latency_idle_and_loaded(client, db, batch, args.target)
            print(f"--jobs {parallel}: drain bare/ours median {statistics.median(ratios):.2f} "
                  f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}); whole job median "
                  f"{statistics.median(wholes):.2f} "
                  f"(rounds {', '.join(f'{r:.2f}' for r in wholes)}); upload -> processed "
                  f"{ours:6.2f} s, bare/ours {bare / ours:.2f}", flush=True)  # fmt: skip
        print(f"API latency idle:              {describe(idle)}")
        print(f"API latency under conversions: {describe(loaded)}")

        if args.long_hours:
            long = make_wav(tmp / "long.wav", args.long_hours * 3600)
            server, url, _ = serve(tmp, "memory")
            with server as proc:
                client = Client(url, "memory")

                def api() -> int:
                    return role_pss_kib("embedded api", under=proc.pid)

                def worker() -> int:
                    return role_pss_kib("embedded worker", under=proc.pid)

                api_idle, worker_idle = api(), worker()
                with PeakSampler(api) as api_peak:
                    task_id = client.upload(long, "mp3")["id"]
                with (
                    PeakSampler(worker) as worker_peak,
                    PeakSampler(ffmpeg_rss_kib) as ffmpeg_peak,
                ):
                    while client.status(task_id) not in FINISHED:
                        time.sleep(0.2)
            size = long.stat().st_size / 1e9
            print(f"API processes, receiving a {args.long_hours:g} h WAV ({size:.2f} GB): "
                  f"{api_idle / 1024:6.1f} MiB idle, {api_peak.peak / 1024:6.1f} MiB peak "
                  f"(+{(api_peak.peak - api_idle) / 1024:.1f})")  # fmt: skip
            print(f"worker process, converting it to mp3: {worker_idle / 1024:6.1f} MiB idle, "
                  f"{worker_peak.peak / 1024:6.1f} MiB peak "
                  f"(+{(worker_peak.peak - worker_idle) / 1024:.1f}); "
                  f"ffmpeg's own peak RSS {ffmpeg_peak.peak / 1024:.1f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
