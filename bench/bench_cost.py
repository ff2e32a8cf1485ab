"""Benchmark: CPU seconds per hour of audio, per target format, for docs/cost.md.

What a conversion costs in the cloud is CPU time on the worker: the encode
(FfmpegTranscoder.convert) and, by default, the report pass after it
(FfmpegTranscoder.report: loudness of input and output, exact length, waveform).
Each is measured as the CPU time (user + system) of the ffmpeg children it runs,
in a fresh process, against bare ffmpeg running the same conversion command in
the same run; rounds alternate bare/ours and the medians are printed, with the
CPU seconds per hour of input audio and the wall-clock realtime factor (what the
longest input allowed takes on one core, for docs/deploy.md "Long conversions").
Not part of the test suite.

    .venv/bin/python bench/bench_cost.py [--minutes 2] [--rounds 3] [--targets mp3,...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

from bench_convert import one_run_argument, prepared_input  # noqa: E402 (the same input)

from audioconv.adapters.ffmpeg import FfmpegTranscoder  # noqa: E402
from audioconv.adapters.ffmpeg_command import conversion_command  # noqa: E402
from audioconv.domain.formats import FORMATS  # noqa: E402
from audioconv.domain.job import ConversionJob  # noqa: E402
from audioconv.domain.media import Probe  # noqa: E402

# One target per format family (the others share their encoder: m4a is aac in MP4,
# aiff is PCM like wav).
FAMILIES = "mp3,aac,ogg,opus,wma,flac,alac,wav"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one(mode: str, src: Path, target: str, dst: Path, probe_json: str) -> None:
    """One measurement in this (fresh) process: print CPU seconds and wall seconds."""
    transcoder = FfmpegTranscoder()
    probe = Probe(**json.loads(probe_json))
    job = ConversionJob(probe, FORMATS[target])
    started, cpu = time.perf_counter(), children_cpu()
    if mode == "bare":
        cmd = conversion_command(transcoder.ffmpeg, src, job, dst)
        subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    elif mode == "ours":
        transcoder.convert(src, job, dst, lambda _: None)
    else:  # the report pass over an output made beforehand
        out = transcoder.probe(dst)
        transcoder.report(src, probe, dst, out.duration, dst.with_suffix(".png"))
    print(children_cpu() - cpu, time.perf_counter() - started)


def measure(args: list[str]) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--one", *args], check=True, capture_output=True, text=True
    ).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--targets", default=FAMILIES)
    one_run_argument(parser)
    args = parser.parse_args()
    if args.one:
        mode, src, target, dst, probe_json = args.one
        one(mode, Path(src), target, Path(dst), probe_json)
        return
    transcoder = FfmpegTranscoder()
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as tmp:
        folder = Path(tmp)
        src, seconds, probe_json = prepared_input(folder, args.minutes, transcoder)
        load = os.getloadavg()
        print(f"input: {args.minutes:g} min pink noise, FLAC 44.1 kHz stereo; "
              f"{os.cpu_count()} CPUs; load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
              f"median of {args.rounds} alternating rounds")  # fmt: skip
        print(
            f"{'target':7} {'bare cpu':>9} {'ours cpu':>9} {'ours/bare':>9} "
            f"{'report cpu':>10} {'cpu-s/h conv':>12} {'cpu-s/h +rep':>12} {'ours x rt':>9}"
        )
        for target in args.targets.split(","):
            dst = folder / f"out.{FORMATS[target].extension}"
            runs: dict[str, list[tuple[float, float]]] = {"bare": [], "ours": [], "report": []}
            for _ in range(args.rounds):
                for mode in ("bare", "ours", "report"):
                    runs[mode].append(measure([mode, str(src), target, str(dst), probe_json]))
            cpu = {m: statistics.median(r[0] for r in rs) for m, rs in runs.items()}
            wall = statistics.median(r[1] for r in runs["ours"])
            per_hour = 3600 / seconds
            print(f"{target:7} {cpu['bare']:9.2f} {cpu['ours']:9.2f} "
                  f"{cpu['ours'] / cpu['bare']:9.2f} {cpu['report']:10.2f} "
                  f"{cpu['ours'] * per_hour:12.0f} "
                  f"{(cpu['ours'] + cpu['report']) * per_hour:12.0f} "
                  f"{seconds / wall:8.0f}x")  # fmt: skip
        print(f"load after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
