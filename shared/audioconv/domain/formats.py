"""The audio formats we read and write, how ffmpeg names them, and what each can carry.

ALAC: Apple Lossless lives in the same MP4 container as AAC, and every player
expects it named ``.m4a``. So format ``alac`` writes ``<stem>.m4a`` like format
``m4a`` does: the format name (not the extension) says which codec is inside,
and ffprobe tells them apart on input (``detect_format``).

What survives a conversion (``-map_metadata``; checked in tests/engine):
- text tags (title, artist, album, track, date, genre, comment): every target.
  Raw AAC (ADTS) has no tag block of its own; we write an ID3v2 header, which
  ffmpeg, VLC and most players read. WAV gets a RIFF INFO list.
- cover art: mp3 (ID3v2 APIC), m4a/alac (covr atom), flac (PICTURE block),
  aiff (ID3v2 chunk), ogg/opus (METADATA_BLOCK_PICTURE comment, which we build
  ourselves: ffmpeg 6.0's ogg muxer does not write attached pictures).
  Not carried: aac (ADTS has no place for a picture), wav (one stream only),
  wma (ffmpeg's ASF muxer writes a picture as a one-frame video stream, not as
  WM/Picture, so we leave it out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Quality = Literal["low", "standard", "high", "best"]
QUALITIES: tuple[Quality, ...] = ("low", "standard", "high", "best")
CoverMode = Literal["stream", "vorbis", "none"]

# Sample rates (Hz) that make sense to ask for.
COMMON_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
HIGH_RATES = (*COMMON_RATES, 64000, 88200, 96000, 176400, 192000)


@dataclass(frozen=True)
class AudioFormat:
    """One target format: file extension, ffmpeg muxer and codec, and what it allows."""

    name: str
    extension: str
    muxer: str
    codec: str
    # Codec name as ffprobe reports it for a file of this format.
    probe_codec: str
    mime_type: str
    # Encoder arguments per quality preset; "standard" is the default.
    presets: dict[Quality, tuple[str, ...]] = field(default_factory=dict)
    # Muxer arguments (tags, layout).
    muxer_args: tuple[str, ...] = ()
    # Allowed bitrate in kbit/s, or None for lossless formats (no bitrate to choose).
    bitrates: tuple[int, int] | None = None
    sample_rates: tuple[int, ...] = HIGH_RATES
    max_channels: int = 8
    cover: CoverMode = "none"

    @property
    def lossless(self) -> bool:
        return self.bitrates is None

    @property
    def default_args(self) -> tuple[str, ...]:
        return self.presets.get("standard", ())


def _kbps(*rates: int) -> dict[Quality, tuple[str, ...]]:
    return {q: ("-b:a", f"{r}k") for q, r in zip(QUALITIES, rates, strict=True)}


def _vbr(*levels: int) -> dict[Quality, tuple[str, ...]]:
    return {q: ("-q:a", str(v)) for q, v in zip(QUALITIES, levels, strict=True)}


_M4A_MUX = ("-movflags", "+faststart")

FORMATS: dict[str, AudioFormat] = {
    f.name: f
    for f in (
        # LAME VBR: -q:a 6 ~115, 2 ~190, 0 ~245 kbit/s; best is 320 kbit/s CBR.
        AudioFormat(
            "mp3", "mp3", "mp3", "libmp3lame", "mp3", "audio/mpeg",
            {**_vbr(6, 2, 0, 0), "best": ("-b:a", "320k")}, ("-id3v2_version", "3"),
            (8, 320), COMMON_RATES, 2, "stream",
        ),
        AudioFormat(
            "aac", "aac", "adts", "aac", "aac", "audio/aac",
            _kbps(96, 192, 256, 320), ("-write_id3v2", "1"), (16, 512), HIGH_RATES[:12],
        ),
        AudioFormat(
            "m4a", "m4a", "ipod", "aac", "aac", "audio/mp4",
            _kbps(96, 192, 256, 320), _M4A_MUX, (16, 512), HIGH_RATES[:12], cover="stream",
        ),
        AudioFormat(
            "alac", "m4a", "ipod", "alac", "alac", "audio/mp4",
            muxer_args=_M4A_MUX, cover="stream",
        ),
        # Vorbis VBR quality: 3 ~112, 5 ~160, 7 ~224, 9 ~320 kbit/s.
        AudioFormat(
            "ogg", "ogg", "ogg", "libvorbis", "vorbis", "audio/ogg",
            _vbr(3, 5, 7, 9), (), (45, 500), cover="vorbis",
        ),
        AudioFormat(
            "opus", "opus", "opus", "libopus", "opus", "audio/ogg; codecs=opus",
            _kbps(64, 128, 192, 256), (), (6, 510), (8000, 12000, 16000, 24000, 48000),
            cover="vorbis",
        ),
        AudioFormat("wav", "wav", "wav", "pcm_s16le", "pcm_s16le", "audio/wav"),
        AudioFormat("flac", "flac", "flac", "flac", "flac", "audio/flac", cover="stream"),
        AudioFormat(
            "wma", "wma", "asf", "wmav2", "wmav2", "audio/x-ms-wma",
            _kbps(96, 128, 192, 256), (), (24, 320),
            (8000, 11025, 16000, 22050, 32000, 44100, 48000), 2,
        ),
        AudioFormat(
            "aiff", "aiff", "aiff", "pcm_s16be", "pcm_s16be", "audio/aiff",
            muxer_args=("-write_id3v2", "1"), cover="stream",
        ),
    )
}  # fmt: skip

# ffprobe demuxer names we accept as input (ffmpeg's -format_whitelist syntax).
# Never: hls, concat, image2 and other formats that open further files or URLs.
INPUT_DEMUXERS = ("mp3", "aac", "mov", "ogg", "wav", "flac", "asf", "aiff", "matroska", "caf")

# Vorbis quality levels and their nominal bitrates (kbit/s, 44.1 kHz stereo): a
# bitrate asked for an ogg target picks the nearest level, since libvorbis's own
# bitrate management refuses many rate/channel/bitrate combinations.
VORBIS_LEVELS = {-1: 45, 0: 64, 1: 80, 2: 96, 3: 112, 4: 128, 5: 160, 6: 192, 7: 224,
                 8: 256, 9: 320, 10: 500}  # fmt: skip


def vorbis_level(kbps: int) -> int:
    """The Vorbis quality level nearest a bitrate asked for an ogg target."""
    return min(VORBIS_LEVELS, key=lambda q: abs(VORBIS_LEVELS[q] - kbps))


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
