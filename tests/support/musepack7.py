"""Musepack SV7 test files written from the format as FFmpeg's demuxer and decoder read
it (libavformat/mpc.c, libavcodec/mpc7.c): Debian's mpcenc writes only SV8, and no
other SV7 encoder is packaged. The frames are digital silence (every subband's
resolution 0: eight bits a frame), which is enough to prove the container, the
frame framing and the decoder are read."""

from __future__ import annotations

import struct
from pathlib import Path

FRAME = 1152  # samples a frame (MPC_FRAMESIZE)


def _words(bits: list[int]) -> bytes:
    """Bits packed MSB first into 32-bit words, each stored little-endian (SV7's order)."""
    bits = bits + [0] * (-len(bits) % 32)
    words = [int("".join(map(str, bits[n : n + 32])), 2) for n in range(0, len(bits), 32)]
    return b"".join(struct.pack("<I", word) for word in words)


def _field(value: int, count: int) -> list[int]:
    return [(value >> (count - 1 - i)) & 1 for i in range(count)]


def write_mpc7(path: Path, seconds: float = 0.5, rate: int = 44100) -> Path:
    """A stereo SV7 file of silence lasting ``seconds`` (at 44.1 kHz)."""
    assert rate == 44100  # the rate index written below
    total = int(seconds * rate)
    full, tail = divmod(total, FRAME)
    # Header words after "MP+", version and frame count: IS, MSS, max band 0, rate
    # index 0 (44.1 kHz), then 88 bits of profile, gain and peak fields, then the
    # gapless flag and the length of the last frame.
    header = [0, 0, *_field(0, 6), *([0] * 88), 1, *_field(tail, 11)]
    extradata = _words(header)
    frame = [*_field(8, 20), *([0] * 8)]  # 8 bits follow: both channels' band 0 at 0
    stream = [0] * 8 + frame * (full + 1)  # the frames start 8 bits into the first word
    data = _words(stream) + bytes(8)
    path.write_bytes(b"MP+\x17" + struct.pack("<I", full) + extradata + data)
    return path
