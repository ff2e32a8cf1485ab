"""Files we do not convert, named by their first bytes, so that a refusal says what
the file is ("Shorten is not supported") instead of what ffmpeg's error number was.

Playlists and scripts name other files or URLs: ffmpeg's demuxers for them (hls,
concat, ...) are never allowed to read them (domain/formats.py INPUT_DEMUXERS).
"""

from __future__ import annotations

# (first bytes, at offset, what it is, what to do): the first match names the file.
_SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"#EXTM3U", 0, "an M3U/HLS playlist", "upload the audio file it lists"),
    (b"ffconcat version", 0, "an ffmpeg concat script", "upload the audio file itself"),
    (b"[playlist]", 0, "a PLS playlist", "upload the audio file it lists"),
    (b"<?xml", 0, "an XML document (a playlist or a manifest?)", "upload an audio file"),
    (b"<ASX", 0, "an ASX playlist", "upload the audio file it lists"),
    (b"ajkg", 0, "Shorten (SHN) audio", "convert it to FLAC with shntool or ffmpeg first"),
    (b"MThd", 0, "a MIDI file", "it holds notes, not sound: render it to audio first"),
    (b"Creative Voice File", 0, "Creative Voice (VOC) audio", "convert it to WAV first"),
    (b"OggS", 0, "an Ogg file without audio we read", "upload Vorbis, Opus or FLAC in Ogg"),
    (b"PK\x03\x04", 0, "a ZIP archive", "upload the audio files one by one"),
    (b"%PDF", 0, "a PDF document", "upload an audio file"),
    (b"\x89PNG", 0, "a PNG image", "upload an audio file"),
    (b"\xff\xd8\xff", 0, "a JPEG image", "upload an audio file"),
    (b"GIF8", 0, "a GIF image", "upload an audio file"),
    (b"\x1aE\xdf\xa3", 0, "a Matroska/WebM file without audio we read", "upload an audio file"),
    (b"ftyp", 4, "an MP4 file without audio we read", "upload an audio file"),
)


def refusal(head: bytes) -> str | None:
    """Why a file starting with ``head`` is refused, if its first bytes say what it is."""
    for magic, offset, what, advice in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return f"{what} is not supported: {advice}"
    return None
