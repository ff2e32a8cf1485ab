"""Benchmark of the embedded service against bare ffmpeg, run the same way in the same run.

Prints:
- throughput: N files converted through the API (upload -> processed) against the
  same N conversions by bare ffmpeg at the same parallelism, and the ratio;
- API latency (p50/p95 of GET /api/tasks) idle and while conversions saturate the cores;
- server memory (peak PSS of the server processes, ffmpeg children excluded) while
  uploading a small and a large file: streaming means the large one costs no more.

Usage: .venv/bin/python bench/bench_service.py [--files 8] [--seconds 120]
Not part of the test suite; the figures are for reading, not asserting.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

from sampling import PeakSampler, tree_pss_kib  # noqa: E402

from audioconv.adapters.ffmpeg import wheel_binaries  # noqa: E402
from tests.support.http_api import HttpApi  # noqa: E402
from tests.support.procs import BIN, free_port, running  # noqa: E402

FFMPEG, _ = wheel_binaries()


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


def bare_ffmpeg(files: list[Path], out_dir: Path, parallel: int) -> float:
    """The same conversions (wav -> mp3 VBR q2) by bare ffmpeg, same parallelism."""

    def one(path: Path) -> None:
        subprocess.run(
            [FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(path), "-map", "0:a:0",
             "-c:a", "libmp3lame", "-q:a", "2", str(out_dir / f"{path.stem}.mp3")],
            check=True,
        )  # fmt: skip

    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120.0, help="length of each file")
    parser.add_argument("--large-mb", type=int, default=400)
    args = parser.parse_args()
    cores = os.cpu_count() or 1

    with tempfile.TemporaryDirectory(prefix="audioconv-bench-") as tmpdir:
        tmp = Path(tmpdir)
        files = [make_wav(tmp / f"in{i}.wav", args.seconds) for i in range(args.files)]
        small = make_wav(tmp / "small.wav", 6)  # ~1 MB
        large = make_wav(tmp / "large.wav", args.large_mb * 1024 * 1024 / (44100 * 4))
        audio_minutes = args.files * args.seconds / 60

        bare = bare_ffmpeg(files, tmp, cores)
        port = free_port()
        env = {"AUDIOCONV_DATA_DIR": str(tmp / "data")}
        with running([str(BIN / "audioconv"), "serve"], env, port, tmp / "server.log") as proc:
            client = Client(f"http://127.0.0.1:{port}", "bench")
            idle = latency(client, 5)

            def convert_all() -> float:
                start = time.perf_counter()
                pending = {client.upload(f, "mp3")["id"] for f in files}
                while pending:
                    pending = {
                        i for i in pending if client.status(i) not in ("processed", "failed")
                    }
                    time.sleep(0.05)
                return time.perf_counter() - start

            ours = convert_all()  # alone: throughput
            loaded: list[float] = []  # again, with clients polling: latency under load
            load = threading.Thread(target=lambda: loaded.extend(latency(client, 5)))
            load.start()
            convert_all()
            load.join()

            rss: dict[str, tuple[int, int]] = {}
            for label, path in (("1 MB", small), (f"{args.large_mb} MB", large)):
                before = tree_pss_kib(proc.pid)
                with PeakSampler(lambda: tree_pss_kib(proc.pid)) as sampler:
                    task_id = client.upload(path, "flac")["id"]
                    while client.status(task_id) not in ("processed", "failed"):
                        time.sleep(0.05)
                rss[label] = (before, sampler.peak)

    print(f"machine: {cores} cores; {args.files} files x {args.seconds:.0f} s, wav -> mp3")
    print(f"bare ffmpeg ({cores} at once):     {bare:7.2f} s  "
          f"{audio_minutes / bare * 60:7.1f} audio-min/min")  # fmt: skip
    print(f"audioconv API (upload->processed): {ours:7.2f} s  "
          f"{audio_minutes / ours * 60:7.1f} audio-min/min  "
          f"ratio ours/bare {ours / bare:.2f}")  # fmt: skip
    print(f"API latency idle:                  {describe(idle)}")
    print(f"API latency under conversions:     {describe(loaded)}")
    for label, (before, peak) in rss.items():
        print(f"server PSS, upload + conversion of {label:>7}: "
              f"{before / 1024:6.1f} MiB before, {peak / 1024:6.1f} MiB peak")  # fmt: skip


if __name__ == "__main__":
    main()
