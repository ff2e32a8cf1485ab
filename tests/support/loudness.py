"""Audio of a known loudness, and an independent meter to check loudness by (ffmpeg's
ebur128 filter, not the loudnorm the service uses)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support.audio import FFMPEG


def make_noise(path: Path, seconds: float, gain_db: float = -20.0) -> Path:
    """Pink noise at ``gain_db``: steady, so its loudness is well defined."""
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"anoisesrc=color=pink:sample_rate=44100:duration={seconds}:seed=7",
         "-af", f"volume={gain_db}dB", "-ac", "2", str(path)],
        check=True,
    )  # fmt: skip
    return path


def ebur128(path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) by ffmpeg's ebur128 meter: another
    filter than the loudnorm the service uses."""
    log = subprocess.run(
        [FFMPEG, "-nostdin", "-hide_banner", "-nostats", "-i", str(path),
         "-af", "ebur128=peak=true", "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stderr  # fmt: skip
    summary = log[log.rindex("Summary:") :]
    integrated = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary)
    assert integrated and peak, summary
    return float(integrated[1]), float(peak[1])
