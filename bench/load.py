"""Load test: `audioconv serve` as `make run` runs it, locust on the same machine.

For each scenario of bench/locustfile.py it starts a fresh server, runs locust
headless, and prints requests/min, failures and p50/p95 per route, where the CPU
went (API processes, worker, ffmpeg, locust itself), then how fast the backlog of
conversions drains once the load stops, against bare ffmpeg converting the same
file at the same parallelism in the same run.

Usage: .venv/bin/python bench/load.py [--scenario LoginUpload|UploadLoop|ReadHeavy|all]
       [--users 30] [--seconds 60] [--drain-seconds 60] [--drain-all]
Per-user quotas are lifted for the run (AUDIOCONV_QUOTA_TASKS_IN_FLIGHT=0): 30
users uploading flat out queue far more conversions than 2 cores can run.
Not part of the test suite; the figures are for reading, not asserting.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

from audioconv.adapters import ffmpeg_command as command  # noqa: E402
from audioconv.adapters.ffmpeg import FfmpegTranscoder, wheel_binaries  # noqa: E402
from tests.support.audio import job  # noqa: E402
from tests.support.procs import BIN, free_port, running  # noqa: E402

FFMPEG, _ = wheel_binaries()
SCENARIOS = ("LoginUpload", "UploadLoop", "ReadHeavy")


def make_upload(path: Path, seconds: float = 160.0) -> Path:
    """A ~4 MB, ~160 s MP3 (200 kb/s pink noise), like the older service's test file."""
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"anoisesrc=d={seconds}:c=pink:r=44100:a=0.3", "-ac", "2",
         "-c:a", "libmp3lame", "-b:a", "200k", str(path)],
        check=True,
    )  # fmt: skip
    return path


def make_flac(path: Path, seconds: float) -> Path:
    """Stereo pink noise as FLAC (44.1 kHz), as docs/performance.md's per-run table uses:
    a source every target re-encodes (an MP3 to mp3 is a stream copy)."""
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"anoisesrc=d={seconds}:c=pink:r=44100:a=0.3", "-ac", "2", str(path)],
        check=True,
    )  # fmt: skip
    return path


def cpu_seconds(procs: list[psutil.Process]) -> dict[str, float]:
    """CPU time by role: each API or worker process with the children it reaped
    (ffprobe for the API, ffmpeg for the worker); running children are counted apart."""
    total: dict[str, float] = {}
    for proc in procs:
        try:
            cmd = " ".join(proc.cmdline())
            t = proc.cpu_times()
        except psutil.Error:
            continue
        role = ("ffmpeg running" if "ffmpeg" in cmd or "ffprobe" in cmd else
                "api" if "embedded api" in cmd else
                "worker" if "embedded worker" in cmd else "supervisor")  # fmt: skip
        own = t.user + t.system
        reaped = t.children_user + t.children_system if role in ("api", "worker") else 0.0
        total[role] = total.get(role, 0.0) + own
        if reaped:
            key = "ffprobe (api)" if role == "api" else "ffmpeg (worker)"
            total[key] = total.get(key, 0.0) + reaped
    return total


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def statuses(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM tasks GROUP BY status").fetchall())


def worker_command(src: Path, target: str, dst: Path) -> list[str]:
    """The very ffmpeg command line the worker runs to convert ``src`` to ``target``
    (adapters/ffmpeg_command.py): what the benchmarks run bare."""
    conversion = job(FfmpegTranscoder().probe(src), target)
    return command.conversion_command(FFMPEG, src, conversion, dst)


def bare_rate(upload: Path, out: Path, parallel: int, seconds: float) -> float:
    """Files/min bare ffmpeg converts ``upload`` to aac, as the worker would, at ``parallel``."""
    end = time.monotonic() + seconds
    done = [0]
    commands = [worker_command(upload, "aac", out / f"bare{n}.m4a") for n in range(parallel)]

    def loop(n: int) -> None:
        while time.monotonic() < end:
            subprocess.run(commands[n], check=True, stdout=subprocess.DEVNULL)
            done[0] += 1

    start = time.monotonic()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(loop, range(parallel)))
    return done[0] / (time.monotonic() - start) * 60


def start_locust(
    scenario: str, url: str, args: argparse.Namespace, tmp: Path, upload: Path
) -> subprocess.Popen[bytes]:
    """locust headless on ``url`` for ``args.seconds`` with ``args.users`` users; its
    figures go to ``tmp``/<scenario>_stats.csv."""
    return subprocess.Popen(
        [str(BIN / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
         "-u", str(args.users), "-r", str(args.users), "-t", f"{args.seconds:.0f}s",
         "--host", url, "--csv", str(tmp / scenario),
         "--only-summary", "--loglevel", "WARNING", scenario],
        env={**os.environ, "AUDIOCONV_BENCH_FILE": str(upload)},
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def print_stats(stats_csv: Path, seconds: float) -> dict[str, float]:
    """Print requests/min, failures and p50/p95 per route; return the aggregated row's
    requests/min, failures and p95 (ms)."""
    with stats_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        count = int(row["Request Count"])
        print(f"{row['Type']:6} {row['Name'][:34]:34} {count / seconds * 60:8.0f}/min  "
              f"failures {int(row['Failure Count']):4}  p50 {row['50%']:>6} ms  "
              f"p95 {row['95%']:>6} ms")  # fmt: skip
    total = rows[-1]
    return {
        "rpm": int(total["Request Count"]) / seconds * 60,
        "failures": float(total["Failure Count"]),
        "p95": float(total["95%"] or "nan"),
    }


def run(scenario: str, args: argparse.Namespace, tmp: Path, upload: Path) -> None:
    data = tmp / f"data-{scenario}"
    port = free_port()
    env = {"AUDIOCONV_DATA_DIR": str(data), "AUDIOCONV_QUOTA_TASKS_IN_FLIGHT": "0"}
    log = tmp / f"server-{scenario}.log"
    with running([str(BIN / "audioconv"), "serve"], env, port, log) as server:
        before = cpu_seconds(tree(server.pid))
        locust = start_locust(scenario, f"http://127.0.0.1:{port}", args, tmp, upload)
        load = psutil.Process(locust.pid)
        load_cpu = 0.0
        server_procs: dict[int, psutil.Process] = {}
        while locust.poll() is None:
            with contextlib.suppress(psutil.Error):
                load_cpu = sum(load.cpu_times()[:2])
            for proc in tree(server.pid):
                server_procs[proc.pid] = proc
            time.sleep(0.5)
        after = cpu_seconds(list(server_procs.values()))
        counts = statuses(data / "audioconv.db")
        accepted = sum(counts.values())
        backlog = counts.get("uploaded", 0) + counts.get("processing", 0)
        drain_start, processed_at_start = time.monotonic(), counts.get("processed", 0)
        deadline = drain_start + (1e9 if args.drain_all else args.drain_seconds)
        while time.monotonic() < deadline:
            counts = statuses(data / "audioconv.db")
            if not counts.get("uploaded") and not counts.get("processing"):
                break
            time.sleep(1)
        drained = counts.get("processed", 0) - processed_at_start
        drain_rate = drained / (time.monotonic() - drain_start) * 60

    print(f"\n== {scenario}: {args.users} users, {args.seconds:.0f} s, locust on the same machine")
    print_stats(tmp / f"{scenario}_stats.csv", args.seconds)
    cpu = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    print("CPU seconds during the load: " + ", ".join(
        f"{k} {v:.0f}" for k, v in sorted(cpu.items())) + f", locust {load_cpu:.0f} "
          f"(of {args.seconds * (os.cpu_count() or 1):.0f} available)")  # fmt: skip
    print(f"tasks after the load: {accepted} accepted; {counts}")
    if not backlog:  # the read-heavy shape converts only its set-up files
        print("drain: nothing was left to convert when the load stopped")
        return
    print(f"drain: {drain_rate:.1f} files/min through the pipeline")
    if args.compare_bare:
        bare = bare_rate(upload, tmp, os.cpu_count() or 1, 30)
        print(
            f"bare ffmpeg, same file, {os.cpu_count()} at once: {bare:.1f} files/min; "
            f"ratio pipeline/bare {drain_rate / bare:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="LoginUpload", choices=[*SCENARIOS, "all"])
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--drain-seconds", type=float, default=60)
    parser.add_argument("--drain-all", action="store_true", help="wait for every task")
    parser.add_argument("--no-bare", dest="compare_bare", action="store_false")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audioconv-load-") as tmpdir:
        tmp = Path(tmpdir)
        upload = make_upload(tmp / "upload.mp3")
        print(f"machine: {os.cpu_count()} cores; upload {upload.stat().st_size / 1e6:.1f} MB")
        for scenario in SCENARIOS if args.scenario == "all" else (args.scenario,):
            run(scenario, args, tmp, upload)


if __name__ == "__main__":
    main()
