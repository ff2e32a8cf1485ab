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
    """What a conversion made: the output (its duration as the encoder counted it), and
    the input's loudness when the ``loudness`` option measured it; what the user should
    know (``warnings``, domain/fidelity.py); whether the output was proven to decode to
    the input's very samples (``verified``: None when no such promise was made); and
    whether its container says its exact length (else ``inexact`` says why not)."""

    output: Probe
    input_loudness: Loudness | None = None
    warnings: tuple[str, ...] = ()
    verified: bool | None = None
    inexact: str | None = None


@dataclass(frozen=True)
class MediaReport:
    """What the report pass measured of an input and its output (services/report.py):
    each one's loudness, the output's exact length (its decoded samples counted), and
    a PNG of both waveforms. Any of them may be missing (silence has no loudness)."""

    input_loudness: Loudness | None = None
    output_loudness: Loudness | None = None
    output_seconds: float | None = None
    # The input's waveform above the output's, where the transcoder was told to draw it.
    waveform: Path | None = None
