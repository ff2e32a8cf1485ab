"""Tagged test audio with cover art, in every format, and what ffprobe says of it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from audioconv.adapters.ffmpeg import FfmpegTranscoder
from audioconv.domain.formats import FORMATS
from tests.support.audio import FFMPEG, job, probe

FULL_TAGS = {
    "title": "Test Tone", "artist": "audioconv", "album": "Fixtures", "track": "3",
    "date": "2026", "genre": "Electronic", "comment": "made by ffmpeg lavfi",
}  # fmt: skip


def make_cover(path: Path) -> Path:
    """A small PNG test card."""
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", "testsrc=size=64x64:duration=1", "-frames:v", "1", str(path)],
        check=True,
    )  # fmt: skip
    return path


def make_master(folder: Path, seconds: float = 1.0) -> Path:
    """A FLAC tone, 44.1 kHz stereo, with FULL_TAGS and a PNG front cover."""
    cover = make_cover(folder / "cover.png")
    master = folder / "master.flac"
    tags = [a for k, v in FULL_TAGS.items() for a in ("-metadata", f"{k}={v}")]
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
         "-i", str(cover), "-map", "0", "-map", "1", "-ac", "2", "-c:a", "flac",
         "-c:v", "copy", "-disposition:v:0", "attached_pic", *tags, str(master)],
        check=True,
    )  # fmt: skip
    return master


def make_sources(
    folder: Path, transcoder: FfmpegTranscoder, seconds: float = 1.0
) -> dict[str, Path]:
    """The master converted to each format by the transcoder under test."""
    master = make_master(folder, seconds)
    found = transcoder.probe(master)
    sources = {}
    for name, fmt in FORMATS.items():
        path = folder / f"source-{name}.{fmt.extension}"
        transcoder.convert(master, job(found, name), path, lambda _: None)
        sources[name] = path
    return sources


def audio_stream(info: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in info["streams"] if s["codec_type"] == "audio")


def cover_streams(info: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s for s in info["streams"]
        if s["codec_type"] == "video" and s.get("disposition", {}).get("attached_pic")
    ]  # fmt: skip


def cover_bytes(path: Path) -> bytes:
    """The embedded cover image, as stored."""
    return subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy",
         "-frames:v", "1", "-f", "rawvideo", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip


__all__ = ["probe"]
