"""ffmpeg's EBU R128 meter (``ebur128``) run for gain tags: every 400 ms block's
loudness (its momentary loudness, every 100 ms) and the true peak, to three decimals.

The audio is cut into 100 ms frames at 48 kHz (the meter's own rate) so that each of
the meter's steps lands on a frame of its own and its figures are printed, by
``ametadata``, to a file. Pure: the command line and the reading of that file.
"""

from __future__ import annotations

from pathlib import Path

from audioconv.domain.formats import INPUT_DEMUXERS
from audioconv.domain.gain import Measured

_BASE = ("-nostdin", "-hide_banner", "-nostats", "-y")
_BLOCK_KEY = "lavfi.r128.M"
_PEAK_KEY = "lavfi.r128.true_peak"


def gain_command(ffmpeg: str, path: Path, blocks: Path, peaks: Path) -> list[str]:
    """Decode ``path``'s first audio stream through the meter: block loudnesses printed
    to ``blocks``, the running true peak to ``peaks``."""
    for file in (blocks, peaks):
        if "'" in str(file) or "\\" in str(file):
            raise ValueError(f"a meter's file name cannot hold quotes: {file}")
    chain = (
        "aresample=48000,asetnsamples=n=4800:p=0,ebur128=peak=true:metadata=1,"
        f"ametadata=mode=print:key={_BLOCK_KEY}:file='{blocks}',"
        f"ametadata=mode=print:key={_PEAK_KEY}:file='{peaks}'"
    )
    return [
        ffmpeg, *_BASE, "-loglevel", "error", "-protocol_whitelist", "file,pipe",
        "-threads", "1", "-format_whitelist", ",".join(INPUT_DEMUXERS), "-i", f"file:{path}",
        "-map", "0:a:0", "-af", chain, "-progress", "pipe:1", "-f", "null", "-",
    ]  # fmt: skip


def parse_measured(blocks: str, peaks: str) -> Measured:
    """The blocks' loudnesses (LUFS) and the true peak (ratio) from the printed files."""
    return Measured(tuple(_values(blocks, _BLOCK_KEY)), max(_values(peaks, _PEAK_KEY), default=0.0))


def _values(text: str, key: str) -> list[float]:
    found = []
    for line in text.splitlines():
        name, _, value = line.partition("=")
        if name == key:
            try:
                found.append(float(value))
            except ValueError:
                continue
    return found
