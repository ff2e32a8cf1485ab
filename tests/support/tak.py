"""TAK test files written from the format as FFmpeg's TAK decoder and demuxer read it
(libavcodec/tak.c, takdec.c; libavformat/takdec.c): no TAK encoder runs here (Tom's
encoder is for Windows only). Each 512-sample frame holds one constant per channel
(its first sample, then first-order integration of zero residues), alternating
between two levels: a 43 Hz square wave, 16-bit, lossless by construction."""

from __future__ import annotations

from pathlib import Path

FRAME = 512  # TAK_FST_512
_FST_512 = 7
_CODEC_MONO_STEREO = 2


class _Bits:
    """A little-endian bit writer (TAK's bitstream: the first bit is a byte's lowest)."""

    def __init__(self) -> None:
        self.bits: list[int] = []

    def put(self, value: int, count: int) -> None:
        value &= (1 << count) - 1  # two's complement for signed fields
        self.bits.extend((value >> i) & 1 for i in range(count))

    def align(self) -> None:
        self.bits.extend([0] * (-len(self.bits) % 8))

    def bytes(self) -> bytes:
        self.align()
        return bytes(
            sum(bit << i for i, bit in enumerate(self.bits[n : n + 8]))
            for n in range(0, len(self.bits), 8)
        )


def crc24(data: bytes) -> bytes:
    """TAK's CRC-24 (OpenPGP's: polynomial 0x864CFB, initial 0xB704CE), stored LE."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc.to_bytes(3, "little")


def _stream_info(bits: _Bits, rate: int, channels: int, samples: int) -> None:
    bits.put(_CODEC_MONO_STEREO, 6)
    bits.put(0, 4)  # profile
    bits.put(_FST_512, 4)
    bits.put(samples, 35)
    bits.put(0, 3)  # data type: PCM
    bits.put(rate - 6000, 18)
    bits.put(16 - 8, 5)  # bits per sample
    bits.put(channels - 1, 4)
    bits.put(0, 1)  # no channel layout extension


def _frame(number: int, samples: int, last: bool, level: int, rate: int, channels: int,
           total: int) -> bytes:  # fmt: skip
    head = _Bits()
    head.put(0xA0FF, 16)
    head.put((1 if last else 0) | 2, 3)  # IS_LAST, HAS_INFO
    head.put(number, 21)
    if last:
        head.put(samples - 1, 14)
        head.put(0, 2)
    _stream_info(head, rate, channels, total)
    head.put(0, 6)
    header = head.bytes()
    header += crc24(header)
    body = _Bits()
    for _ in range(channels):
        body.put(0, 1)  # no sample shift
        body.put(level, 16)  # the first sample
        body.put(1, 2)  # lpc mode 1: each sample is the sum of the residues before it
        body.put(0, 3)  # one subframe
        body.put(0, 1)  # no predictor
        body.put(0, 1)  # one coding mode
        body.put(0, 6)  # mode 0: every residue is zero
    if channels == 2:
        body.put(0, 1)
        body.put(0, 3)  # no decorrelation
    data = body.bytes()
    return header + data + crc24(data)


def write_tak(path: Path, seconds: float = 0.5, rate: int = 44100, channels: int = 2) -> Path:
    """A TAK file of a 16-bit square wave lasting ``seconds``."""
    total = int(seconds * rate)
    frames = -(-total // FRAME)
    info = _Bits()
    _stream_info(info, rate, channels, total)
    block = info.bytes()
    block += crc24(block)
    out = bytearray(b"tBaK")
    out += bytes([1]) + len(block).to_bytes(3, "little") + block
    out += bytes([0, 0, 0, 0])  # end of metadata
    for n in range(frames):
        last = n == frames - 1
        samples = total - n * FRAME if last else FRAME
        level = 8000 if n % 2 == 0 else -8000
        out += _frame(n, samples, last, level, rate, channels, total)
    path.write_bytes(bytes(out))
    return path
