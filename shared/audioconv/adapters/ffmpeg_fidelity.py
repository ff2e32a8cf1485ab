"""Reading the proofs of a lossless conversion: ffmpeg's ``md5`` muxer output and the
MD5 a FLAC file keeps in its STREAMINFO block (read with mutagen)."""

from __future__ import annotations

import re
from pathlib import Path

from mutagen import MutagenError
from mutagen.flac import FLAC

_MD5 = re.compile(r"MD5=([0-9a-f]{32})")


def parse_md5(text: str) -> str | None:
    """The hex digest ffmpeg's md5 muxer wrote (``MD5=...``), if it wrote one."""
    found = _MD5.search(text)
    return found[1] if found else None


def flac_md5(path: Path) -> str | None:
    """The MD5 of the decoded samples a FLAC file's STREAMINFO keeps (None when unset,
    as an encoder that could not seek back leaves it, or unreadable)."""
    try:
        signature = FLAC(path).info.md5_signature  # type: ignore[no-untyped-call]
    except (MutagenError, OSError):
        return None
    return f"{signature:032x}" if signature else None
