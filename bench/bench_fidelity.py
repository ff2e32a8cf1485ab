"""What faithful conversions cost against the same ffmpeg command without them.

Each case runs the conversion's very command line (``ffmpeg_command.conversion_command``)
and the same line with one thing taken out, in alternating order each round, so both
see the same machine; prints each one's median seconds and plain/ours (1.0: costs
nothing; the issue's bar is 0.95):

- ``soxr+dither``: a 24-bit 96 kHz WAV to 16-bit 44.1 kHz FLAC (soxr at 28 bits of
  precision, TPDF dither) against swresample's default resampler and no dither;
- ``soxr (mp3)``: the same WAV to mp3 (48 kHz: soxr) against swresample's default;
- ``verify flac|wav|alac``: a 24-bit 96 kHz WAV to each lossless target with the MD5
  of the input's decode as a second output and the output's check (FLAC's STREAMINFO;
  an MD5 of the output's decode for wav and alac) against the conversion alone.

Usage: .venv/bin/python bench/bench_fidelity.py [--rounds 7] [--seconds 60]
Not part of the test suite; the figures are for reading (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

from audioconv.adapters import ffmpeg_command as command  # noqa: E402
from audioconv.adapters.ffmpeg import FfmpegTranscoder, wheel_binaries  # noqa: E402
from audioconv.domain.formats import FORMATS  # noqa: E402
from audioconv.domain.job import ConversionJob  # noqa: E402
from audioconv.domain.options import parse_options  # noqa: E402

FFMPEG, _ = wheel_binaries()


def make_source(folder: Path, seconds: float) -> Path:
    path = folder / "hires.wav"
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"anoisesrc=color=pink:amplitude=0.4:sample_rate=96000:duration={seconds}",
         "-ac", "2", "-c:a", "pcm_s24le", str(path)],
        check=True,
    )  # fmt: skip
    return path


def without(cmd: list[str], *parts: str) -> list[str]:
    """``cmd`` with the given ``aresample`` parameters taken out of its ``-af`` chain."""
    out = list(cmd)
    at = out.index("-af") + 1
    kept = [
        ":".join(p for p in f.split(":") if not any(p.startswith(x) for x in parts))
        for f in out[at].split(",")
    ]
    out[at] = ",".join(kept).replace("aresample=,", "").replace(",aresample=", "")
    return out


def run(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def cases(src: Path, folder: Path) -> dict[str, tuple[Callable[[], float], Callable[[], float]]]:
    transcoder = FfmpegTranscoder()
    found = transcoder.probe(src)

    def job(target: str, **options: object) -> ConversionJob:
        return ConversionJob(found, FORMATS[target], parse_options(options, FORMATS[target]))

    found_cases: dict[str, tuple[Callable[[], float], Callable[[], float]]] = {}
    reduce = job("flac", sampleRate=44100, bitDepth=16)
    ours = command.conversion_command(FFMPEG, src, reduce, folder / "a.flac")
    plain = without(ours, "resampler", "precision", "dither_method")
    found_cases["soxr+dither"] = (lambda: run(ours), lambda p=plain: run(p))
    lossy = command.conversion_command(FFMPEG, src, job("mp3"), folder / "a.mp3")
    swr = without(lossy, "resampler", "precision")
    found_cases["soxr (mp3)"] = (lambda: run(lossy), lambda: run(swr))
    for target in ("flac", "wav", "alac"):
        dst = folder / f"v.{FORMATS[target].extension}"
        md5 = folder / "v.md5"
        checked = command.conversion_command(FFMPEG, src, job(target), dst, md5=md5)
        alone = command.conversion_command(FFMPEG, src, job(target), dst)
        # flac/wav/alac from pcm_s24le: the copy case (wav) still hashes both sides
        check = command.verify_codec(job(target))
        assert check is not None

        def verified(
            c: list[str] = checked, t: str = target, d: Path = dst, k: str = check
        ) -> float:
            took = run(c)
            if t != "flac":
                out = folder / "o.md5"
                took += run(command.decoded_md5_command(FFMPEG, d, k, out))
            return took

        found_cases[f"verify {target}"] = (verified, lambda a=alone: run(a))
    return found_cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src = make_source(folder, args.seconds)
        for name, (ours, plain) in cases(src, folder).items():
            times: dict[str, list[float]] = {"ours": [], "plain": []}
            for round_number in range(args.rounds):
                order = [("ours", ours), ("plain", plain)]
                if round_number % 2:
                    order.reverse()
                for label, call in order:
                    times[label].append(call())
            ours_s, plain_s = (statistics.median(times[k]) for k in ("ours", "plain"))
            ratios = [p / o for p, o in zip(times["plain"], times["ours"], strict=True)]
            print(
                f"{name:>14}: ours {ours_s:6.3f} s, plain {plain_s:6.3f} s, "
                f"plain/ours median {statistics.median(ratios):.2f} "
                f"(rounds {', '.join(f'{r:.2f}' for r in ratios)})"
            )
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
