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

What each lossless target holds (``depths``: sample format -> encoder) and whether
each target can say its exact length (``exact_length``) are part of the same table,
so ``GET /api/formats`` and README's "What a conversion keeps" say the same
(domain/fidelity.py decides what a conversion does with them).
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
    # Lossless targets: the encoder for each sample format the file can hold
    # (SAMPLE_FORMATS), the first the one a lossy input is decoded to.
    depths: dict[str, str] = field(default_factory=dict)
    # None: the container says exactly how many samples there are (a sine of N
    # samples decodes to N); else why it cannot.
    inexact: str | None = None
    # The channel layouts the encoder takes, by channel count (None: any named layout).
    layouts: dict[int, str] | None = None

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

# Sample formats of lossless audio, as Probe.sample_format names them: bits per sample,
# and whether they are floating point.
SAMPLE_FORMATS: dict[str, tuple[int, bool]] = {
    "u8": (8, False), "s16": (16, False), "s24": (24, False), "s32": (32, False),
    "f32": (32, True), "f64": (64, True),
}  # fmt: skip
# The ``bitDepth`` option's values and the sample format each asks for: 32 is 32-bit
# floating point (what audio editors call 32-bit), kept only where the format has it.
BIT_DEPTHS = {16: "s16", 24: "s24", 32: "f32"}
# The layouts Vorbis and multichannel Opus (mapping family 1) define, by channel count.
VORBIS_LAYOUTS = {
    1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1",
}  # fmt: skip

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
            inexact="raw ADTS AAC has no field for the encoder's delay and padding: "
            "players add about 1024 samples of silence before the audio and up to 1024 after",
        ),
        AudioFormat(
            "m4a", "m4a", "ipod", "aac", "aac", "audio/mp4",
            _kbps(96, 192, 256, 320), _M4A_MUX, (16, 512), HIGH_RATES[:12], cover="stream",
        ),
        AudioFormat(
            "alac", "m4a", "ipod", "alac", "alac", "audio/mp4",
            muxer_args=_M4A_MUX, cover="stream", depths={"s16": "alac", "s24": "alac"},
        ),
        # Vorbis VBR quality: 3 ~112, 5 ~160, 7 ~224, 9 ~320 kbit/s.
        AudioFormat(
            "ogg", "ogg", "ogg", "libvorbis", "vorbis", "audio/ogg",
            _vbr(3, 5, 7, 9), (), (45, 500), cover="vorbis", layouts=VORBIS_LAYOUTS,
        ),
        AudioFormat(
            "opus", "opus", "opus", "libopus", "opus", "audio/ogg; codecs=opus",
            _kbps(64, 128, 192, 256), (), (6, 510), (8000, 12000, 16000, 24000, 48000),
            cover="vorbis", layouts=VORBIS_LAYOUTS,
        ),
        AudioFormat(
            "wav", "wav", "wav", "pcm_s16le", "pcm_s16le", "audio/wav",
            depths={"s16": "pcm_s16le", "u8": "pcm_u8", "s24": "pcm_s24le",
                    "s32": "pcm_s32le", "f32": "pcm_f32le", "f64": "pcm_f64le"},
        ),
        AudioFormat(
            "flac", "flac", "flac", "flac", "flac", "audio/flac", cover="stream",
            depths={"s16": "flac", "s24": "flac"},
        ),
        AudioFormat(
            "wma", "wma", "asf", "wmav2", "wmav2", "audio/x-ms-wma",
            _kbps(96, 128, 192, 256), (), (24, 320),
            (8000, 11025, 16000, 22050, 32000, 44100, 48000), 2,
            inexact="ASF cannot say where the audio ends: the last WMA frame is padded "
            "with silence (up to 2047 samples)",
        ),
        AudioFormat(
            "aiff", "aiff", "aiff", "pcm_s16be", "pcm_s16be", "audio/aiff",
            muxer_args=("-write_id3v2", "1"), cover="stream",
            depths={"s16": "pcm_s16be", "u8": "pcm_s8", "s24": "pcm_s24be",
                    "s32": "pcm_s32be", "f32": "pcm_f32be"},
        ),
    )
}  # fmt: skip


# Every input we take: our name for it, what people call it, and the ffmpeg demuxers
# that read it. Each reads one file and nothing else: never hls, concat, image2 or any
# other demuxer that opens further files or URLs.
@dataclass(frozen=True)
class InputFormat:
    name: str
    title: str
    demuxers: tuple[str, ...]


INPUTS: dict[str, InputFormat] = {
    i.name: i
    for i in (
        InputFormat("mp3", "MP3", ("mp3",)),
        InputFormat("mp2", "MPEG audio layer 2", ("mp3",)),
        InputFormat("aac", "AAC (ADTS)", ("aac",)),
        InputFormat("m4a", "AAC in MP4", ("mov",)),
        InputFormat("alac", "Apple Lossless", ("mov",)),
        InputFormat("ogg", "Ogg Vorbis", ("ogg",)),
        InputFormat("opus", "Opus", ("ogg",)),
        InputFormat("wav", "WAV (also RF64)", ("wav",)),
        InputFormat("w64", "Sony Wave64", ("w64",)),
        InputFormat("flac", "FLAC", ("flac",)),
        InputFormat("wma", "Windows Media Audio", ("asf",)),
        InputFormat("aiff", "AIFF / AIFF-C", ("aiff",)),
        InputFormat("caf", "Apple CAF", ("caf",)),
        InputFormat("mka", "Matroska / WebM audio", ("matroska", "webm")),
        InputFormat("au", "Sun AU", ("au",)),
        InputFormat("amr", "AMR", ("amr", "amrnb", "amrwb")),
        InputFormat("ac3", "Dolby Digital (AC-3)", ("ac3",)),
        InputFormat("eac3", "Dolby Digital Plus (E-AC-3)", ("eac3",)),
        InputFormat("dts", "DTS", ("dts", "dtshd")),
        InputFormat("truehd", "Dolby TrueHD", ("truehd",)),
        InputFormat("mlp", "Meridian Lossless Packing", ("mlp",)),
        InputFormat("wavpack", "WavPack", ("wv",)),
        InputFormat("ape", "Monkey's Audio (APE)", ("ape",)),
        InputFormat("tak", "TAK", ("tak",)),
        InputFormat("tta", "True Audio (TTA)", ("tta",)),
        InputFormat("musepack", "Musepack (SV7, SV8)", ("mpc", "mpc8")),
        InputFormat("dsf", "DSD (DSF)", ("dsf",)),
        InputFormat("dff", "DSD (DSDIFF)", ("iff",)),
    )
}

# ffprobe demuxer names we accept as input (ffmpeg's -format_whitelist syntax).
INPUT_DEMUXERS = tuple(dict.fromkeys(d for i in INPUTS.values() for d in i.demuxers))
# Our name of an input, by the demuxer that read it (where the demuxer alone says it).
_BY_DEMUXER = {
    d: i.name for i in INPUTS.values() for d in i.demuxers if d not in ("mp3", "mov", "ogg")
}

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
        return "mp2" if codec_name in ("mp1", "mp2") else "mp3"
    if "mov" in demuxers:
        return "alac" if codec_name == "alac" else "m4a"
    if "ogg" in demuxers:
        return "opus" if codec_name == "opus" else "ogg"
    if "iff" in demuxers and not codec_name.startswith("dsd_"):
        return None  # 8SVX, not DSD
    for demuxer in format_name.split(","):
        if demuxer in _BY_DEMUXER:
            return _BY_DEMUXER[demuxer]
    return None
