"""Benchmark: FfmpegTranscoder.convert against bare ffmpeg with the same arguments.

"ours" is the whole conversion: the encode plus the report pass (loudness of input
and output, waveform picture), so ours/bare shows what that pass costs.

Generates an N-minute tagged stereo file, converts it to a few targets both ways
in the same run, and prints wall time, realtime factor, peak RSS of the ffmpeg
child and the ratio ours/bare. Not part of the test suite.

    .venv/bin/python bench/bench_convert.py [--minutes 5] [--targets mp3,aac,opus,flac]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

from sampling import PeakSampler, ffmpeg_children_hwm_kib  # noqa: E402

from audioconv.adapters.ffmpeg import FfmpegTranscoder  # noqa: E402
from audioconv.adapters.ffmpeg_command import conversion_command  # noqa: E402
from audioconv.domain.formats import FORMATS  # noqa: E402
from audioconv.domain.job import ConversionJob  # noqa: E402
from audioconv.domain.media import Probe  # noqa: E402


def make_input(folder: Path, minutes: float, ffmpeg: str) -> Path:
    """Pink noise (a realistic encoder load, unlike a sine), as FLAC: every lossy target
    is a real encode (flac itself is a stream copy)."""
    path = folder / "input.flac"
    subprocess.run(
        [ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"anoisesrc=color=pink:sample_rate=44100:duration={minutes * 60}",
         "-ac", "2", "-c:a", "flac",
         "-metadata", "title=Bench", "-metadata", "artist=audioconv", str(path)],
        check=True,
    )  # fmt: skip
    return path


def prepared_input(
    folder: Path, minutes: float, transcoder: FfmpegTranscoder
) -> tuple[Path, float, str]:
    """The pink-noise input, its duration and its probe as JSON (what ``--one`` runs take)."""
    src = make_input(folder, minutes, transcoder.ffmpeg)
    probe = transcoder.probe(src)
    return src, probe.duration, json.dumps(dataclasses.asdict(probe))


def one_run_argument(parser: argparse.ArgumentParser) -> None:
    """``--one MODE SRC TARGET DST PROBE``: one measured run, in a child process of its own."""
    parser.add_argument("--one", nargs=5, metavar=("MODE", "SRC", "TARGET", "DST", "PROBE"))


def run_in_fresh_process(fn_args: list[str]) -> tuple[float, float]:
    """Run this script in a child to measure one conversion: wall time, and the peak RSS
    of its only grandchild, ffmpeg (the probe is passed in, not re-run)."""
    out = subprocess.run(
        [sys.executable, __file__, "--one", *fn_args], check=True, capture_output=True, text=True
    ).stdout.split()
    return float(out[0]), float(out[1])


def one(mode: str, src: Path, target: str, dst: Path, probe_json: str) -> None:
    """Convert once (ours or bare) and print wall seconds and peak child RSS in MiB."""
    transcoder = FfmpegTranscoder()
    probe = Probe(**json.loads(probe_json))
    job = ConversionJob(probe, FORMATS[target])
    cmd = conversion_command(transcoder.ffmpeg, src, job, dst)
    with PeakSampler(ffmpeg_children_hwm_kib) as rss:
        started = time.perf_counter()
        if mode == "ours":
            transcoder.convert(src, job, dst, lambda _: None)
        else:
            subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
    print(wall, rss.peak / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--targets", default="mp3,aac,ogg,opus,wma,flac,wav")
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs each way")
    one_run_argument(parser)
    args = parser.parse_args()
    if args.one:
        mode, src, target, dst, probe_json = args.one
        one(mode, Path(src), target, Path(dst), probe_json)
        return
    transcoder = FfmpegTranscoder()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        folder = Path(tmp)
        src, seconds, probe_json = prepared_input(folder, args.minutes, transcoder)
        print(f"input: {args.minutes:g} min pink noise, FLAC 44.1 kHz stereo; "
              f"{os.cpu_count()} CPUs; best of {args.repeat}")  # fmt: skip
        print(f"{'target':8} {'bare s':>8} {'ours s':>8} {'bare x':>8} {'ours x':>8} "
              f"{'bare MiB':>9} {'ours MiB':>9} {'ours/bare':>9}")  # fmt: skip
        for target in args.targets.split(","):
            dst = folder / f"out.{FORMATS[target].extension}"
            runs = {
                mode: min(
                    (run_in_fresh_process([mode, str(src), target, str(dst), probe_json])
                     for _ in range(args.repeat)),
                    key=lambda r: r[0],
                )
                for mode in ("bare", "ours")
            }  # fmt: skip
            (bare, bare_rss), (ours, ours_rss) = runs["bare"], runs["ours"]
            print(f"{target:8} {bare:8.2f} {ours:8.2f} {seconds / bare:7.0f}x "
                  f"{seconds / ours:7.0f}x {bare_rss:9.1f} {ours_rss:9.1f} "
                  f"{ours / bare:9.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
