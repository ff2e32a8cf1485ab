"""Real audio for tests, made by the same ffmpeg the service uses, and checks with ffprobe."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from audioconv.adapters.ffmpeg import wheel_binaries
from audioconv.domain.formats import FORMATS
from audioconv.domain.job import ConversionJob
from audioconv.domain.media import Probe
from audioconv.domain.options import parse_options

FFMPEG, FFPROBE = wheel_binaries()

TAGS = {"title": "Test Tone", "artist": "audioconv", "album": "Fixtures", "date": "2026"}


def make_audio(
    path: Path,
    seconds: float = 2.0,
    codec_args: tuple[str, ...] = (),
    tags: dict[str, str] | None = None,
    rate: int = 44100,
    channels: int = 2,
) -> Path:
    """A sine tone of ``seconds`` at ``path``; the container follows the extension."""
    tag_args = [a for k, v in (tags or {}).items() for a in ("-metadata", f"{k}={v}")]
    subprocess.run(
        [
            FFMPEG, "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}:duration={seconds}",
            "-ac", str(channels), *codec_args, *tag_args, str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return dict(json.loads(out))


def decoded_duration(path: Path) -> float:
    """Duration by decoding every sample (exact, unlike header estimates)."""
    out = subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0",
         "-f", "s16le", "-ac", "1", "-ar", "48000", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return len(out) / 2 / 48000


def tags_of(info: dict[str, Any]) -> dict[str, str]:
    """Container and first-audio-stream tags, keys lower-cased."""
    tags = dict(info.get("format", {}).get("tags", {}))
    for stream in info.get("streams", []):
        if stream.get("codec_type") == "audio":
            tags.update(stream.get("tags", {}))
            break
    return {k.lower(): v for k, v in tags.items()}


def job(found: Probe, target: str, **options: Any) -> ConversionJob:
    """A conversion of the probed file to ``target``, with options as a client gives them."""
    fmt = FORMATS[target]
    return ConversionJob(found, fmt, parse_options(options, fmt))
