"""What each of the report's meters costs, against the encode itself, on this machine.

For one input (160 s of stereo pink noise as FLAC, 44.1 kHz, as docs/performance.md's
per-run table uses, or ``--input``)
and each target (mp3, m4a, opus), every variant runs once per round, in a random
order, so that all see the same machine; prints each variant's median CPU seconds
(user + system of the child, and of this process for the Python meters) and its
cost as a fraction of the encode's:

- ``encode``: the worker's very command line (``load.worker_command``), bare;
- ``encode+in_ebur128tp`` / ``encode+in_ebur128``: the same encode with ffmpeg's
  ``ebur128`` (peak=true / no peak) fed by ``asplit`` from its own decode;
- ``out_decode``: decoding the output to nothing;
- ``out_ebur128tp`` / ``out_ebur128``: the output decoded into ``ebur128``;
- ``report_pass``: the report pass as it runs today (both files, both meters, waveform);
- ``py_decode``: the output decoded to float samples on a pipe, read by this process;
- ``py_lufs``: the same, into libebur128 (PyPI ``pyebur128``) for I and LRA, no true peak;
- ``py_lufs_tp``: the same, libebur128 with its true peak on every sample (its 4x
  interpolator: 0.5-0.7 dB below ffmpeg's on hot or bright material, so it cannot stand
  in for ffmpeg's figures);
- ``report_once``: the report pass of an output that decodes to the input's samples
  (``report_command`` without the output: a stream copy or a lossless target).

The ``py_`` variants need numpy and pyebur128 (``pip install numpy pyebur128``); they
are skipped without them.

Usage: .venv/bin/python bench/bench_meters.py [--rounds 5] [--seconds 160]
       [--targets mp3,m4a,opus] [--input FILE]
Not part of the test suite; the figures are for reading.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

from load import make_flac, worker_command  # noqa: E402

from audioconv.adapters import ffmpeg_command as command  # noqa: E402
from audioconv.adapters.ffmpeg import FfmpegTranscoder, wheel_binaries  # noqa: E402
from audioconv.domain.formats import FORMATS  # noqa: E402

FFMPEG, _ = wheel_binaries()
RATE_CHANNELS = (44100, 2)


def child_cpu(args: list[str], stdout: int | None = subprocess.DEVNULL) -> float:
    """CPU seconds (user + system) of one child run to its end."""
    proc = subprocess.Popen(args, stdout=stdout, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"exit {proc.returncode}: {' '.join(args)}")
    return usage.ru_utime + usage.ru_stime


def with_input_meter(cmd: list[str], peak: str) -> list[str]:
    """The encode with ``ebur128`` on an ``asplit`` of its own decode."""
    i = cmd.index("-map")
    graph = f"[0:a:0]asplit=2[enc][m];[m]ebur128=peak={peak},anullsink"
    return [*cmd[:i], "-filter_complex", graph, "-map", "[enc]", *cmd[i + 2 :]]


def decode(out: Path, *filters: str) -> list[str]:
    chain = ["-af", ",".join(filters)] if filters else []
    return [FFMPEG, "-nostdin", "-v", "info", "-threads", "1", "-i", str(out), *chain,
            "-f", "null", "-"]  # fmt: skip


CHUNK_BYTES = 1 << 20


def python_meter(out: Path, meter: Callable[[int, int], object]) -> float:
    """CPU of decoding ``out`` to f32 samples on a pipe plus this process's meter."""
    args = [FFMPEG, "-nostdin", "-v", "error", "-threads", "1", "-i", str(out),
            "-map", "0:a:0", "-c:a", "pcm_f32le", "-f", "f32le", "pipe:1"]  # fmt: skip
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    sink = meter(*RATE_CHANNELS)
    feed = getattr(sink, "feed", None)
    while chunk := proc.stdout.read(CHUNK_BYTES):
        if feed is not None:
            feed(chunk)
    if hasattr(sink, "finish"):
        sink.finish()
    _, _, usage = os.wait4(proc.pid, 0)
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    mine = (self_after.ru_utime - self_before.ru_utime) + (
        self_after.ru_stime - self_before.ru_stime
    )
    return usage.ru_utime + usage.ru_stime + mine


class _Lufs:
    """libebur128 alone (with or without its true peak), as a meter to compare."""

    def __init__(self, rate: int, channels: int, true_peak: bool) -> None:
        import numpy as np
        import pyebur128

        mode = pyebur128.MeasurementMode.MODE_I | pyebur128.MeasurementMode.MODE_LRA
        if true_peak:
            mode |= pyebur128.MeasurementMode.MODE_TRUE_PEAK
        self.np = np
        self.state = pyebur128.R128State(channels, rate, mode)
        self.channels = channels

    def feed(self, chunk: bytes) -> None:
        samples = self.np.frombuffer(chunk, dtype=self.np.float32)
        self.state.add_frames(samples, len(samples) // self.channels)


def variants(src: Path, target: str, tmp: Path) -> dict[str, Callable[[], float]]:
    out = tmp / f"out.{FORMATS[target].extension}"
    encode = worker_command(src, target, out)
    subprocess.run(encode, check=True, stdout=subprocess.DEVNULL)
    probe = FfmpegTranscoder().probe(src)
    png = tmp / "wave.png"
    seconds = (probe.duration,) * 2
    report = command.report_command(FFMPEG, src, probe.demuxer, out, png, seconds)
    once = command.report_command(FFMPEG, src, probe.demuxer, None, png, seconds)
    runs: dict[str, Callable[[], float]] = {
        "encode": lambda: child_cpu(encode),
        "encode+in_ebur128tp": lambda: child_cpu(with_input_meter(encode, "true")),
        "encode+in_ebur128": lambda: child_cpu(with_input_meter(encode, "none")),
        "out_decode": lambda: child_cpu(decode(out)),
        "out_ebur128tp": lambda: child_cpu(decode(out, "ebur128=peak=true")),
        "out_ebur128": lambda: child_cpu(decode(out, "ebur128=peak=none")),
        "report_pass": lambda: child_cpu(report),
        "report_once": lambda: child_cpu(once),
    }
    try:
        import numpy  # noqa: F401
        import pyebur128  # noqa: F401
    except ImportError:
        print("numpy or pyebur128 missing: the py_ variants are skipped")
        return runs
    return {
        **runs,
        "py_decode": lambda: python_meter(out, lambda r, c: object()),
        "py_lufs": lambda: python_meter(out, lambda r, c: _Lufs(r, c, False)),
        "py_lufs_tp": lambda: python_meter(out, lambda r, c: _Lufs(r, c, True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=160.0)
    parser.add_argument("--targets", default="mp3,m4a,opus")
    parser.add_argument("--input", type=Path)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="audioconv-meters-") as tmpdir:
        tmp = Path(tmpdir)
        src = args.input or make_flac(tmp / "in.flac", args.seconds)
        for target in args.targets.split(","):
            runs = variants(src, target, tmp)
            times: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.rounds):
                for name in random.sample(list(runs), len(runs)):
                    times[name].append(runs[name]())
            encode = statistics.median(times["encode"])
            report = statistics.median(times["report_pass"])
            print(f"--- {src.name} -> {target}: CPU seconds, median of {args.rounds}; the "
                  f"whole job's CPU bound (encode / (encode + report pass)): "
                  f"{encode / (encode + report):.2f}")  # fmt: skip
            for name, seconds in times.items():
                median = statistics.median(seconds)
                print(f"{name:>20}: {median:6.3f} s  {median / encode:5.2f} of the encode  "
                      f"(rounds {', '.join(f'{s:.2f}' for s in seconds)})", flush=True)  # fmt: skip
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
