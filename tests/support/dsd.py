"""DSD test files written from their published specifications (no tool here writes
them): a sine through a second-order sigma-delta modulator, as 1-bit samples at
2.8224 MHz (DSD64), in a DSF file (Sony's "DSF File Format Specification" 1.01) or a
DSDIFF file (Philips' "Direct Stream Digital Interchange File Format" 1.5)."""

from __future__ import annotations

import math
import struct
from pathlib import Path

DSD64 = 2_822_400
DSF_BLOCK = 4096  # bytes per channel per block, as the specification fixes it


def modulate(seconds: float, frequency: float = 1000.0, level: float = 0.5) -> bytes:
    """One channel of 1-bit DSD, one bit a sample, the first sample in the lowest bit
    of each byte (DSF's order; DSDIFF's is the reverse)."""
    count = int(seconds * DSD64) // 8 * 8
    out = bytearray(count // 8)
    first = second = 0.0
    feedback = 0.0
    step = 2 * math.pi * frequency / DSD64
    for n in range(count):
        first += level * math.sin(step * n) - feedback
        second += first - feedback
        bit = second >= 0
        feedback = 1.0 if bit else -1.0
        if bit:
            out[n >> 3] |= 1 << (n & 7)
    return bytes(out)


def write_dsf(path: Path, seconds: float = 0.3, channels: int = 2) -> Path:
    """A DSF file of ``channels`` channels of the modulated sine."""
    data = modulate(seconds)
    blocks = -(-len(data) // DSF_BLOCK)
    padded = data.ljust(blocks * DSF_BLOCK, b"\x69")  # DSD silence pattern
    body = b"".join(padded[i * DSF_BLOCK : (i + 1) * DSF_BLOCK] * channels for i in range(blocks))
    fmt = struct.pack(
        "<4sQIIIIIIQII", b"fmt ", 52, 1, 0, 2 if channels == 2 else 1, channels,
        DSD64, 1, len(data) * 8, DSF_BLOCK, 0,
    )  # fmt: skip
    data_chunk = struct.pack("<4sQ", b"data", 12 + len(body)) + body
    total = 28 + len(fmt) + len(data_chunk)
    head = struct.pack("<4sQQQ", b"DSD ", 28, total, 0)
    path.write_bytes(head + fmt + data_chunk)
    return path


def write_dff(path: Path, seconds: float = 0.3) -> Path:
    """A stereo DSDIFF (.dff) file of the modulated sine, uncompressed."""
    lsb_first = modulate(seconds)
    msb_first = bytes(int(f"{byte:08b}"[::-1], 2) for byte in lsb_first)
    interleaved = bytes(b for pair in zip(msb_first, msb_first, strict=True) for b in pair)

    def chunk(kind: bytes, body: bytes) -> bytes:
        pad = b"\x00" if len(body) % 2 else b""
        return struct.pack(">4sQ", kind, len(body)) + body + pad

    compression = b"DSD " + bytes([14]) + b"not compressed" + b"\x00"
    prop = b"SND " + b"".join(
        (
            chunk(b"FS  ", struct.pack(">I", DSD64)),
            chunk(b"CHNL", struct.pack(">H", 2) + b"SLFTSRGT"),
            chunk(b"CMPR", compression),
        )
    )
    form = b"DSD " + chunk(b"FVER", struct.pack(">I", 0x01050000)) + chunk(b"PROP", prop)
    form += chunk(b"DSD ", interleaved)
    path.write_bytes(struct.pack(">4sQ", b"FRM8", len(form)) + form)
    return path
