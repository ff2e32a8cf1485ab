"""The report's meters over one stream of decoded samples: EBU R128 loudness
(integrated, loudness range), true peak, the exact length and the waveform's columns.

One ``Meter`` takes the interleaved float samples of one decode, chunk by chunk, as
they arrive on a pipe (memory stays flat however long the file):

- integrated loudness and loudness range: libebur128 (PyPI ``pyebur128``), the
  reference implementation of EBU R128 / ITU-R BS.1770, without its true peak;
- true peak: libebur128's own 4x (2x from 96 kHz, none from 192 kHz) polyphase
  interpolator, computed only where it could matter. An interpolated sample is a sum
  of input samples times one phase's taps, so it exceeds the block's largest input
  sample by at most the largest sum of one phase's tap magnitudes (``TruePeak.gain``,
  computed from the taps, ~1.6): a block whose sample peak times that bound cannot
  beat the running maximum is skipped. Blocks are tried in decreasing order of their
  bound, so in music most are never interpolated; the interpolator itself is exact
  where it runs;
- the exact length: the frames counted;
- the waveform: the largest absolute sample of the (mono) mix in each of ``columns``
  equal spans of the expected length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyebur128

from audioconv.domain.media import Loudness

# Bytes read from the decoder's pipe at a time (float32 samples).
CHUNK_BYTES = 1 << 20
# Frames per true-peak block: short enough that a block's bound is close to its own
# peak, long enough that the per-block work stays in numpy.
BLOCK_FRAMES = 256
# libebur128's true-peak interpolator (ebur128.c, interp_create): 49 taps.
_TAPS = 49
# Below this (silence), no loudness is reported, as ffmpeg's meter gives -70 LUFS.
_SILENT_LUFS = -70.0

Floats = npt.NDArray[np.float64]


def decode_command(ffmpeg: str, path: Path, demuxer: str | None) -> list[str]:
    """Decode ``path``'s first audio stream to interleaved float32 on stdout, at its own
    rate and channels (a confined run like every other: adapters/ffmpeg.py)."""
    forced = ["-f", demuxer] if demuxer else []
    return [
        ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error",
        "-protocol_whitelist", "file,pipe", "-threads", "1", *forced, "-i", f"file:{path}",
        "-map", "0:a:0", "-c:a", "pcm_f32le", "-f", "f32le", "pipe:1",
    ]  # fmt: skip


def interpolation_factor(rate: int) -> int:
    """libebur128's oversampling: 4x below 96 kHz, 2x below 192 kHz, else none."""
    return 4 if rate < 96000 else 2 if rate < 192000 else 1


def phase_filters(factor: int) -> Floats:
    """libebur128's interpolator as a (factor, taps per phase) matrix: a Hann-windowed
    sinc of ``_TAPS`` taps, tap ``j`` in phase ``j % factor``."""
    per_phase = -(-_TAPS // factor)
    phases = np.zeros((factor, per_phase))
    for j in range(_TAPS):
        m = j - (_TAPS - 1) / 2
        c = 1.0 if abs(m) < 1e-6 else math.sin(m * math.pi / factor) / (m * math.pi / factor)
        c *= 0.5 * (1 - math.cos(2 * math.pi * j / (_TAPS - 1)))
        phases[j % factor, j // factor] = c
    # Each phase is applied as a dot product with the newest sample last.
    return np.ascontiguousarray(phases[:, ::-1])


class TruePeak:
    """The largest absolute interpolated sample of every channel, over all blocks fed."""

    def __init__(self, rate: int, channels: int) -> None:
        self.factor = interpolation_factor(rate)
        self.filters = phase_filters(self.factor)
        self.span = self.filters.shape[1]
        # The bound: no interpolated sample exceeds the window's peak times this.
        self.gain = float(np.abs(self.filters).sum(axis=1).max())
        self.channels = channels
        self.history = np.zeros((self.span - 1, channels))
        self.peak = 0.0
        self._carry = 0.0  # the last block's peak, whose frames the next window reaches
        self.interpolated_blocks = 0
        self.blocks = 0

    def feed(self, frames: Floats) -> None:
        """Frames (n, channels), after those fed before."""
        window = np.concatenate([self.history, frames])
        self.history = window[len(window) - (self.span - 1) :]
        magnitude = np.abs(frames).max(axis=1) if len(frames) else np.zeros(0)
        if not len(magnitude):
            return
        # Phase 0 is the sample itself (the sinc's centre tap; its other taps are 0).
        self.peak = max(self.peak, float(magnitude.max()))
        if self.factor == 1:
            return
        count = -(-len(magnitude) // BLOCK_FRAMES)
        self.blocks += count
        padded = np.zeros(count * BLOCK_FRAMES)
        padded[: len(magnitude)] = magnitude
        block_peak = padded.reshape(count, BLOCK_FRAMES).max(axis=1)
        # The window of a block's outputs reaches span-1 frames into the one before.
        before = np.concatenate([[self._carry], block_peak[:-1]])
        reach = np.maximum(block_peak, before)
        self._carry = float(block_peak[-1])
        bounds = reach * self.gain
        for block in np.argsort(-bounds):
            if bounds[block] <= self.peak:
                break
            start = block * BLOCK_FRAMES
            stop = min(start + BLOCK_FRAMES, len(frames))
            # window index of frame i is i + span - 1
            part = window[start : stop + self.span - 1]
            views = np.lib.stride_tricks.sliding_window_view(part, self.span, axis=0)
            # views: (frames, channels, span) -> (frames, channels, phases)
            self.peak = max(self.peak, float(np.abs(views @ self.filters.T).max()))
            self.interpolated_blocks += 1


@dataclass(frozen=True)
class Measured:
    """What one ``Meter`` found: loudness (None for silence), frames, waveform columns."""

    loudness: Loudness | None
    frames: int
    rate: int
    columns: Floats

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


class Meter:
    """Every measure of one decoded stream, fed as raw interleaved float32 bytes."""

    def __init__(self, rate: int, channels: int, seconds: float, columns: int = 1200) -> None:
        mode = pyebur128.MeasurementMode.MODE_I | pyebur128.MeasurementMode.MODE_LRA
        self.state = pyebur128.R128State(channels, rate, mode)
        self.rate = rate
        self.channels = channels
        self.true_peak = TruePeak(rate, channels)
        self.frames = 0
        self._partial = b""
        self.columns = np.zeros(columns)
        # Frames per waveform column, so that the expected length fills the picture.
        self.per_column = max(1, math.ceil(seconds * rate / columns))

    def feed(self, chunk: bytes) -> None:
        data = self._partial + chunk
        usable = len(data) - len(data) % (4 * self.channels)
        self._partial = data[usable:]
        if not usable:
            return
        samples = np.frombuffer(data[:usable], dtype="<f4")
        frames = samples.reshape(-1, self.channels).astype(np.float64)
        self.state.add_frames(samples, len(frames))
        self.true_peak.feed(frames)
        self._waveform(frames)
        self.frames += len(frames)

    def _waveform(self, frames: Floats) -> None:
        mono = np.abs(frames.mean(axis=1))
        index = (self.frames + np.arange(len(mono))) // self.per_column
        index = np.minimum(index, len(self.columns) - 1)
        starts = np.flatnonzero(np.diff(index, prepend=-1))
        np.maximum.at(self.columns, index[starts], np.maximum.reduceat(mono, starts))

    def finish(self) -> Measured:
        integrated = pyebur128.get_loudness_global(self.state)
        if not math.isfinite(integrated) or integrated <= _SILENT_LUFS or self.true_peak.peak <= 0:
            loudness = None
        else:
            lra = pyebur128.get_loudness_range(self.state)
            peak_db = 20 * math.log10(self.true_peak.peak)
            loudness = Loudness(round(integrated, 1), round(lra, 1), round(peak_db, 1))
        return Measured(loudness, self.frames, self.rate, self.columns)
