"""What ffmpeg's CPU priority costs a conversion on a machine with nothing else to do.

Runs the worker's very ffmpeg command line (``load.worker_command``: a 180 s MP3
to m4a, one at a time) bare, and under each priority the adapter could give it,
its progress read from a pipe by this process as the worker reads it; each round
runs every variant once, in a random order, so that all see the same machine.
Prints each variant's median seconds and bare/variant (1.0 = it costs nothing):

- ``ours``: the adapter's own exec chain for a conversion (``FfmpegTranscoder``'s
  ``_confine``: prlimit, nice 19, setpriv);
- ``SCHED_BATCH``: the same under Linux's SCHED_BATCH policy as well;
- ``SCHED_IDLE``: nice 10 under SCHED_IDLE, what conversions ran at before.

Usage: .venv/bin/python bench/bench_priority.py [--rounds 10] [--seconds 180]
Linux only (chrt, setpriv). Not part of the test suite; the figures are for reading.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

from load import make_upload, worker_command  # noqa: E402

from audioconv.adapters.ffmpeg import FfmpegTranscoder  # noqa: E402

CPU_LIMIT = 3600.0


def variants(cmd: list[str]) -> dict[str, list[str]]:
    """The command line of each variant; ``ours`` comes from the adapter, the others
    put ``chrt`` after its ``nice``."""
    ours = FfmpegTranscoder()._confine(cmd, CPU_LIMIT, idle=True)["args"]
    nice = ours.index("-n") + 1  # ... nice -n 19 <here> setpriv ... ffmpeg ...
    chrt = shutil.which("chrt") or "chrt"
    return {
        "bare": cmd,
        "ours": ours,
        "SCHED_BATCH": [*ours[: nice + 1], chrt, "--batch", "0", *ours[nice + 1 :]],
        "SCHED_IDLE": [*ours[:nice], "10", chrt, "--idle", "0", *ours[nice + 1 :]],
    }


def timed(args: list[str], piped: bool) -> float:
    """Seconds one run takes; ``piped``: its progress read line by line, as the worker does."""
    start = time.perf_counter()
    if not piped:
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start
    with subprocess.Popen(args, stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        for _ in proc.stdout:
            pass
    if proc.returncode != 0:
        raise SystemExit(f"{args[0]} exited {proc.returncode}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=180.0, help="length of the file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audioconv-priority-") as tmpdir:
        tmp = Path(tmpdir)
        cmd = worker_command(make_upload(tmp / "in.mp3", args.seconds), "m4a", tmp / "out.m4a")
        runs = variants(cmd)
        for name, line in runs.items():
            print(f"{name:>11}: {' '.join(line[: len(line) - len(cmd)]) or '(ffmpeg alone)'}")
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name in random.sample(list(runs), len(runs)):
                times[name].append(timed(runs[name], piped=name != "bare"))
    bare = statistics.median(times["bare"])
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{name:>11}: median {median:5.2f} s, bare/it {bare / median:.2f} "
              f"(rounds {', '.join(f'{s:.2f}' for s in seconds)})")  # fmt: skip


if __name__ == "__main__":
    main()
