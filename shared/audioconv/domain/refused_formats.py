"""Files we do not convert, named by their first bytes, so that a refusal says what
the file is ("Shorten is not supported") instead of what ffmpeg's error number was.

Playlists and scripts name other files or URLs: ffmpeg's demuxers for them (hls,
concat, ...) are never allowed to read them (domain/formats.py INPUT_DEMUXERS).
"""

from __future__ import annotations

# Every refusal starts so; what follows names the file where its first bytes say it.
NOT_AUDIO = "not an audio file we can read"
_UNSUPPORTED = "is not supported"
# (first bytes, at offset, what it is): the first match names the file.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"#EXTM3U", 0, f"an M3U/HLS playlist {_UNSUPPORTED}: upload the audio file it lists"),
    (b"ffconcat version", 0, f"an ffmpeg concat script {_UNSUPPORTED}: upload the audio file"),
    (b"[playlist]", 0, f"a PLS playlist {_UNSUPPORTED}: upload the audio file it lists"),
    (b"<ASX", 0, f"an ASX playlist {_UNSUPPORTED}: upload the audio file it lists"),
    (b"<?xml", 0, f"an XML document (a playlist or manifest?) {_UNSUPPORTED}"),
    (b"ajkg", 0, f"Shorten (SHN) {_UNSUPPORTED}: convert it to FLAC first"),
    (b"MThd", 0, f"MIDI {_UNSUPPORTED}: it holds notes, not sound; render it to audio first"),
    (b"Creative Voice File", 0, f"Creative Voice (VOC) {_UNSUPPORTED}: convert it to WAV first"),
    (b"PK\x03\x04", 0, f"a ZIP archive {_UNSUPPORTED}: upload the audio files one by one"),
    (b"%PDF", 0, "it is a PDF document"),
    (b"\x89PNG", 0, "it is a PNG image"),
    (b"\xff\xd8\xff", 0, "it is a JPEG image"),
    (b"GIF8", 0, "it is a GIF image"),
    (b"OggS", 0, "an Ogg file, but damaged or without Vorbis, Opus, FLAC or Speex audio"),
    (b"\x1aE\xdf\xa3", 0, "a Matroska/WebM file, but damaged or without audio we read"),
    (b"ftyp", 4, "an MP4 file, but damaged or without audio we read"),
)
# The rest: no name, but where to look.
_ELSE = "the formats we read are listed at GET /api/formats"


def refusal(head: bytes) -> str:
    """Why a file starting with ``head`` that ffprobe would not read is refused: what its
    first bytes say it is, where they say it."""
    for magic, offset, what in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return f"{NOT_AUDIO}: {what}"
    return f"{NOT_AUDIO}: {_ELSE}"
