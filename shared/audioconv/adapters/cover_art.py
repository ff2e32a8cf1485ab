"""Cover art for Vorbis comments (Ogg Vorbis, Opus): the FLAC picture block.

ffmpeg 6.0's ogg muxer does not write attached pictures, so we build the
``METADATA_BLOCK_PICTURE`` comment ourselves and hand it to ffmpeg in an
ffmetadata file (a command-line argument is limited to 128 KiB on Linux).
"""

from __future__ import annotations

import base64
import struct

from audioconv.domain.media import Picture

MIME_TYPES = {"mjpeg": "image/jpeg", "png": "image/png"}
FRONT_COVER = 3


def flac_picture_block(data: bytes, picture: Picture) -> bytes:
    """A FLAC METADATA_BLOCK_PICTURE body (front cover) holding the image ``data``."""
    mime = MIME_TYPES[picture.codec].encode()
    return b"".join((
        struct.pack(">II", FRONT_COVER, len(mime)), mime,
        struct.pack(">I", 0),  # no description
        struct.pack(">IIIII", picture.width, picture.height, 24, 0, len(data)), data,
    ))  # fmt: skip


def ffmetadata(tags: dict[str, str]) -> str:
    """An ffmetadata file (ffmpeg's -f ffmetadata) with these global tags."""
    lines = [";FFMETADATA1"]
    lines += [f"{_escape(key)}={_escape(value)}" for key, value in tags.items()]
    return "\n".join(lines) + "\n"


def vorbis_picture_metadata(data: bytes, picture: Picture) -> str:
    """The ffmetadata text that gives an Ogg output this cover image."""
    block = base64.b64encode(flac_picture_block(data, picture)).decode()
    return ffmetadata({"METADATA_BLOCK_PICTURE": block})


def _escape(text: str) -> str:
    return "".join("\\" + c if c in "=;#\\\n" else c for c in text)
