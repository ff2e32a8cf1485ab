"""Gain tags: ReplayGain 2.0 (and Opus's R128 gains) from ITU-R BS.1770 loudness.

The audio is never changed: a player applies the gain the tags say. A track's gain is
the reference loudness minus its integrated loudness; an album's is the same over all
its tracks' audio together (BS.1770's gating over every 400 ms block of every track,
as libebur128 and loudgain do: not an average of the tracks' values); the album's
peak is its loudest track's.

- ReplayGain 2.0: reference -18 LUFS, gains in dB, peaks as ratios of full scale.
- Opus (RFC 7845): ``R128_TRACK_GAIN`` / ``R128_ALBUM_GAIN`` are Q7.8 fixed point
  (1/256 dB steps) relative to -23 LUFS (EBU R 128); the header's output gain stays 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

GainMode = Literal["track", "album"]
GAIN_MODES: tuple[GainMode, ...] = ("track", "album")
REPLAYGAIN_REFERENCE = -18.0  # LUFS
R128_REFERENCE = -23.0  # LUFS
# BS.1770-4 gating: blocks quieter than the absolute gate are silence; of the rest,
# those more than RELATIVE_GATE below their mean loudness are left out.
ABSOLUTE_GATE = -70.0  # LUFS
RELATIVE_GATE = 10.0  # LU
# Formats with a convention for gain tags: how each holds them (adapters/gain_tags.py).
GAIN_TAG_STYLES = {
    "mp3": "id3", "flac": "vorbis", "ogg": "vorbis", "opus": "r128", "m4a": "itunes",
    "alac": "itunes",
}  # fmt: skip
_Q78_RANGE = (-32768, 32767)


def _energy(loudness: float) -> float:
    return float(10 ** ((loudness + 0.691) / 10))


def _loudness(energy: float) -> float:
    return -0.691 + 10 * math.log10(energy)


def gated_loudness(blocks: Iterable[float]) -> float | None:
    """BS.1770 integrated loudness (LUFS) of the 400 ms blocks' loudnesses (LUFS, every
    100 ms); None when every block is below the absolute gate (silence)."""
    energies = [_energy(b) for b in blocks if b > ABSOLUTE_GATE]
    if not energies:
        return None
    relative = _loudness(sum(energies) / len(energies)) - RELATIVE_GATE
    kept = [e for e in energies if e > _energy(relative)]
    return _loudness(sum(kept) / len(kept)) if kept else None


@dataclass(frozen=True)
class Measured:
    """One track's audio as measured: its blocks' loudnesses and its true peak (ratio)."""

    blocks: tuple[float, ...]
    peak: float

    @property
    def loudness(self) -> float | None:
        return gated_loudness(self.blocks)


@dataclass(frozen=True)
class Gain:
    """What the tags of one file say: loudness (LUFS) and peak (ratio) of the track,
    and of its album when there is one."""

    track_loudness: float
    track_peak: float
    album_loudness: float | None = None
    album_peak: float | None = None

    @property
    def track_gain(self) -> float:
        """ReplayGain 2.0 track gain, dB."""
        return round(REPLAYGAIN_REFERENCE - self.track_loudness, 2)

    @property
    def album_gain(self) -> float | None:
        if self.album_loudness is None:
            return None
        return round(REPLAYGAIN_REFERENCE - self.album_loudness, 2)

    @property
    def r128_track(self) -> int:
        """Opus's R128_TRACK_GAIN: Q7.8 relative to -23 LUFS."""
        return q78(R128_REFERENCE - self.track_loudness)

    @property
    def r128_album(self) -> int | None:
        if self.album_loudness is None:
            return None
        return q78(R128_REFERENCE - self.album_loudness)

    def with_album(self, album: Gain) -> Gain:
        return Gain(self.track_loudness, self.track_peak, album.track_loudness, album.track_peak)

    def as_json(self) -> dict[str, float]:
        """What a task shows (and keeps) of its output's gain tags."""
        found = {
            "trackGain": self.track_gain,
            "trackPeak": round(self.track_peak, 6),
            "trackLoudness": round(self.track_loudness, 2),
            "albumGain": self.album_gain,
            "albumPeak": None if self.album_peak is None else round(self.album_peak, 6),
            "albumLoudness": None if self.album_loudness is None else round(self.album_loudness, 2),
        }
        return {key: value for key, value in found.items() if value is not None}

    @classmethod
    def from_json(cls, found: dict[str, float] | None) -> Gain | None:
        """The gain ``as_json`` showed (None for none)."""
        if not found:
            return None
        return cls(
            float(found["trackLoudness"]), float(found["trackPeak"]),
            found.get("albumLoudness"), found.get("albumPeak"),
        )  # fmt: skip


def q78(db: float) -> int:
    """``db`` in Q7.8 fixed point (1/256 dB), within a signed 16-bit integer."""
    low, high = _Q78_RANGE
    return max(low, min(high, round(db * 256)))


def track_gain(measured: Measured) -> Gain | None:
    """A track's gain (None for silence, which no gain can make loud)."""
    loudness = measured.loudness
    return None if loudness is None else Gain(loudness, measured.peak)


def album_gain(tracks: Sequence[Measured]) -> Gain | None:
    """The album's loudness and peak as a Gain (its ``track_*`` fields), gated over every
    block of every track together; None when it is all silence."""
    loudness = gated_loudness(b for t in tracks for b in t.blocks)
    if loudness is None:
        return None
    return Gain(loudness, max(t.peak for t in tracks))


def gain_refusal(mode: str | None, target: str) -> str | None:
    """Why ``gain`` cannot be written to ``target`` files (None if it can)."""
    if mode is None or target in GAIN_TAG_STYLES:
        return None
    takes = ", ".join(GAIN_TAG_STYLES)
    return f"{target} has no convention for gain tags: gain is written to {takes} files"
