"""The audio formats we read and write, and how ffmpeg names them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AudioFormat:
    """One target format: file extension, ffmpeg muxer, codec and default options."""

    name: str
    extension: str
    muxer: str
    codec: str
    # Codec name as ffprobe reports it for a file of this format.
    probe_codec: str
    mime_type: str
    default_args: tuple[str, ...] = field(default=())


FORMATS: dict[str, AudioFormat] = {
    f.name: f
    for f in (
        AudioFormat(
            "mp3",
            "mp3",
            "mp3",
            "libmp3lame",
            "mp3",
            "audio/mpeg",
            ("-q:a", "2", "-id3v2_version", "3"),
        ),
        AudioFormat("aac", "aac", "adts", "aac", "aac", "audio/aac", ("-b:a", "192k")),
        AudioFormat(
            "m4a",
            "m4a",
            "ipod",
            "aac",
            "aac",
            "audio/mp4",
            ("-b:a", "192k", "-movflags", "+faststart"),
        ),
        AudioFormat("ogg", "ogg", "ogg", "libvorbis", "vorbis", "audio/ogg", ("-q:a", "5")),
        AudioFormat(
            "opus", "opus", "opus", "libopus", "opus", "audio/ogg; codecs=opus", ("-b:a", "128k")
        ),
        AudioFormat("wav", "wav", "wav", "pcm_s16le", "pcm_s16le", "audio/wav"),
        AudioFormat("flac", "flac", "flac", "flac", "flac", "audio/flac"),
        AudioFormat("wma", "wma", "asf", "wmav2", "wmav2", "audio/x-ms-wma", ("-b:a", "192k")),
        AudioFormat("aiff", "aiff", "aiff", "pcm_s16be", "pcm_s16be", "audio/aiff"),
    )
}

# ffprobe demuxer names we accept as input (ffmpeg's -format_whitelist syntax).
INPUT_DEMUXERS = ("mp3", "aac", "mov", "ogg", "wav", "flac", "asf", "aiff", "matroska", "caf")


def parse_format(value: object) -> AudioFormat:
    """The format named by a client, or ValueError with a readable message."""
    name = str(value or "").strip().lower().lstrip(".")
    if name not in FORMATS:
        raise ValueError(f"unknown format {value!r}; supported: {', '.join(sorted(FORMATS))}")
    return FORMATS[name]


def detect_format(format_name: str, codec_name: str) -> str | None:
    """Our name for an input, from ffprobe's container and first audio codec."""
    demuxers = set(format_name.split(","))
    if "mp3" in demuxers:
        return "mp3"
    if "aac" in demuxers:
        return "aac"
    if "mov" in demuxers:
        return "alac" if codec_name == "alac" else "m4a"
    if "ogg" in demuxers:
        return "opus" if codec_name == "opus" else "ogg"
    if "asf" in demuxers:
        return "wma"
    for name in ("wav", "flac", "aiff"):
        if name in demuxers:
            return name
    if demuxers & {"matroska", "webm"}:
        return "mka"
    if "caf" in demuxers:
        return "caf"
    return None
