"""Conversion jobs on plain data for the ffmpeg command tests: a 16-bit stereo FLAC
input (any field changed) and a job converting it to a target with API options."""

from __future__ import annotations

from typing import Any

from audioconv.domain.formats import FORMATS
from audioconv.domain.job import ConversionJob
from audioconv.domain.media import Probe
from audioconv.domain.options import parse_options


def probe(**changes: Any) -> Probe:
    """A 161.3 s 16-bit stereo FLAC at 44.1 kHz, with ``changes``."""
    fields: dict[str, Any] = {
        "format": "flac", "demuxer": "flac", "codec": "flac", "duration": 161.3,
        "bitrate": 900000, "sample_rate": 44100, "channels": 2, "tags": {"title": "t"},
        "sample_format": "s16", "layout": "stereo",
    }  # fmt: skip
    return Probe(**{**fields, **changes})


def job(target: str, found: Probe | None = None, **options: Any) -> ConversionJob:
    """Converting ``found`` (else ``probe()``) to ``target`` with ``options`` by their
    API names (``sampleRate``, ``fadeIn``, ...)."""
    fmt = FORMATS[target]
    return ConversionJob(found or probe(), fmt, parse_options(options, fmt))
