"""Conversion jobs on plain data for the fidelity tests: a 24-bit stereo WAV at 96 kHz
(any field changed) and a job converting it to a target with API options."""

from __future__ import annotations

from typing import Any

from audioconv.domain.formats import FORMATS
from audioconv.domain.job import ConversionJob
from audioconv.domain.media import Probe
from audioconv.domain.options import parse_options


def probe(**changes: Any) -> Probe:
    """A 10 s 24-bit stereo WAV at 96 kHz, with ``changes``."""
    fields: dict[str, Any] = {
        "format": "wav", "demuxer": "wav", "codec": "pcm_s24le", "duration": 10.0,
        "bitrate": 4608000, "sample_rate": 96000, "channels": 2, "tags": {},
        "sample_format": "s24", "layout": "stereo",
    }  # fmt: skip
    return Probe(**{**fields, **changes})


def job(target: str, found: Probe | None = None, **options: Any) -> ConversionJob:
    """Converting ``found`` (else ``probe()``) to ``target`` with ``options``."""
    fmt = FORMATS[target]
    return ConversionJob(found or probe(), fmt, parse_options(options, fmt))
