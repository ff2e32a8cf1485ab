"""One conversion as the service hands it to the transcoder, and what comes back.

The service builds a ``ConversionJob`` once, from the task: the input's stored probe,
the target format (looked up once) and the options (checked once, when the task was
accepted). The transcoder reads these objects; it looks nothing up and checks nothing
again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from audioconv.domain.formats import AudioFormat
from audioconv.domain.media import Loudness, Probe
from audioconv.domain.options import ConversionOptions


@dataclass(frozen=True)
class ConversionJob:
    """Convert a file described by ``input`` to ``format`` with ``options``."""

    input: Probe
    format: AudioFormat
    options: ConversionOptions = field(default_factory=ConversionOptions)


@dataclass(frozen=True)
class ConversionResult:
    """What a conversion made: the output (its true duration and, when measured, its
    loudness), the input's measured loudness, and a waveform image of both."""

    output: Probe
    input_loudness: Loudness | None = None
    # A PNG of the input's waveform above the output's, beside the output; None if not made.
    waveform: Path | None = None
