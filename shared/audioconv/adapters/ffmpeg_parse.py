"""Reading what ffprobe and ffmpeg print: the probe's JSON, loudnorm's measurements,
``-progress`` lines and error messages. Pure functions on text and plain data."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audioconv.domain.errors import InvalidInput, UnsupportedMedia
from audioconv.domain.formats import detect_format
from audioconv.domain.media import Loudness, Picture, Probe

# An absolute path left in a message (``file:/tmp/...``, ``/srv/data/...``), not ``kb/s``.
_ABSOLUTE_PATH = re.compile(r"(?:file:)?(?<![\w.])/[^\s:'\",]+")
# loudnorm's report: ``[Parsed_loudnorm_3 @ 0x55d0] {"input_i" : "-23.01", ...}``.
_LOUDNORM = re.compile(r"\[Parsed_loudnorm_(\d+) @ [^\]]*\]\s*(\{[^{}]*\})")
# ebur128's summary: ``[Parsed_ebur128_2 @ 0x55d0] Summary: ... I: -23.0 LUFS ...``.
_EBUR128 = re.compile(r"\[Parsed_ebur128_(\d+) @ [^\]]*\] Summary:(.*?)(?=\[Parsed_|\Z)", re.S)
_NUMBER = r"(-?(?:[0-9.]+|inf)|nan)"
# astats' count: ``[Parsed_astats_9 @ 0x55d0] Number of samples: 20000``.
_SAMPLES = re.compile(r"\[Parsed_astats_\d+ @ [^\]]*\] Number of samples: (\d+)")
_FIGURES = (
    re.compile(rf"\bI:\s+{_NUMBER} LUFS"),
    re.compile(rf"\bLRA:\s+{_NUMBER} LU\b"),
    re.compile(rf"True peak:\s+Peak:\s+{_NUMBER} dBFS"),
)


@dataclass(frozen=True)
class ProbeLimits:
    """What an input may hold (off for our own outputs)."""

    max_streams: int
    max_seconds: float


@dataclass(frozen=True)
class LoudnormStats:
    """One loudnorm report: the measured input, and what its second pass needs."""

    integrated: float  # LUFS
    range: float  # LU
    true_peak: float  # dBTP
    threshold: float  # LUFS
    offset: float  # LU, the gain the second pass still has to add

    @property
    def loudness(self) -> Loudness | None:
        """The figures users see; None for silence (no loudness to speak of)."""
        figures = (self.integrated, self.range, self.true_peak)
        if not all(math.isfinite(value) for value in figures):
            return None
        return Loudness(*(round(value, 2) for value in figures))


def parse_probe(info: Mapping[str, Any], limits: ProbeLimits | None) -> Probe:
    """The probe of ffprobe's ``-show_format -show_streams -of json`` answer.

    UnsupportedMedia (or InvalidInput over ``limits``) for anything we do not convert.
    """
    streams = list(info.get("streams") or [])
    fmt = info.get("format") or {}
    if limits and len(streams) > limits.max_streams:
        raise UnsupportedMedia(
            f"the file has {len(streams)} streams; the limit is {limits.max_streams}"
        )
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    pictures = [
        s for s in streams
        if s.get("codec_type") == "video" and s.get("disposition", {}).get("attached_pic")
    ]  # fmt: skip
    if not audio:
        raise UnsupportedMedia("the file contains no audio stream")
    if any(s.get("codec_type") == "video" for s in streams if s not in pictures):
        raise UnsupportedMedia("the file contains video; upload an audio file")
    stream = audio[0]
    format_name = str(fmt.get("format_name", ""))
    codec = str(stream.get("codec_name", ""))
    duration = as_float(fmt.get("duration")) or as_float(stream.get("duration"))
    if not duration or duration <= 0 or not math.isfinite(duration):
        raise UnsupportedMedia("the audio has no measurable duration")
    if limits and duration > limits.max_seconds:
        raise InvalidInput(
            f"the audio lasts {duration:.0f} s; the limit is {limits.max_seconds:.0f} s"
        )
    # Ogg keeps its comments on the stream, most containers on the file: take both.
    tags = {str(k).lower(): str(v) for k, v in (stream.get("tags") or {}).items()}
    tags.update({str(k).lower(): str(v) for k, v in (fmt.get("tags") or {}).items()})
    return Probe(
        format=detect_format(format_name, codec),
        demuxer=format_name.split(",")[0],
        codec=codec,
        duration=duration,
        bitrate=as_int(stream.get("bit_rate")) or as_int(fmt.get("bit_rate")),
        sample_rate=as_int(stream.get("sample_rate")),
        channels=as_int(stream.get("channels")),
        tags=tags,
        picture=_picture(pictures[0]) if pictures else None,
        sample_format=sample_format(stream),
        layout=_layout(stream),
    )


# Codecs that decode to exactly the samples that were encoded (PCM of every kind is
# ``pcm_*``): their sample format is the input's resolution.
LOSSLESS_CODECS = frozenset(
    {"flac", "alac", "wavpack", "ape", "tak", "tta", "truehd", "mlp", "shorten"}
)
# 8-bit codes that decode to 16-bit samples.
_COMPANDED = frozenset({"pcm_mulaw", "pcm_alaw", "pcm_vidc"})
_INTEGER_BITS = {"u8": 8, "u8p": 8, "s16": 16, "s16p": 16, "s32": 32, "s32p": 32, "s64": 32}


def sample_format(stream: Mapping[str, Any]) -> str | None:
    """The resolution of a lossless stream (s16, s24, f32, ...; formats.SAMPLE_FORMATS):
    its decoder's sample format, narrowed by the bits the file says it uses (24-bit
    audio decodes into 32-bit samples). None for lossy codecs and DSD."""
    codec = str(stream.get("codec_name", ""))
    if not (codec.startswith("pcm_") or codec in LOSSLESS_CODECS):
        return None
    decoded = str(stream.get("sample_fmt", ""))
    if decoded in ("flt", "fltp"):
        return "f32"
    if decoded in ("dbl", "dblp"):
        return "f64"
    if decoded not in _INTEGER_BITS:
        return None
    bits = as_int(stream.get("bits_per_raw_sample"))
    if codec.startswith("pcm_") and codec not in _COMPANDED:
        bits = bits or as_int(stream.get("bits_per_sample"))
    bits = min(bits or _INTEGER_BITS[decoded], _INTEGER_BITS[decoded])
    return "u8" if bits <= 8 else "s16" if bits <= 16 else "s24" if bits <= 24 else "s32"


def _layout(stream: Mapping[str, Any]) -> str | None:
    """The layout ffprobe names; ``unknown`` when the decoder says it has none (ffmpeg
    then cannot guess one, and a lossy encoder refuses it); None when not said."""
    layout = str(stream.get("channel_layout") or "")
    return "unknown" if layout.endswith(" channels") else layout or None


# Demuxers whose stated duration is missing or wrong (ffmpeg 6.0's mpc8 reads a 10 s
# SV8 file as 8.36 s): their files are measured by decoding them.
MEASURED_DEMUXERS = frozenset({"mpc8", "truehd", "mlp"})


def lacks_duration(info: Mapping[str, Any]) -> str | None:
    """The demuxer of a probed file whose container says no duration, or one not to
    trust (MEASURED_DEMUXERS), so it must be measured; None otherwise (or no audio)."""
    fmt = info.get("format") or {}
    streams = [s for s in info.get("streams") or [] if s.get("codec_type") == "audio"]
    demuxer = str(fmt.get("format_name", "")).split(",")[0]
    if not streams or not demuxer:
        return None
    said = as_float(fmt.get("duration")) or as_float(streams[0].get("duration"))
    return demuxer if demuxer in MEASURED_DEMUXERS or not said else None


def with_duration(info: dict[str, Any], seconds: float | None) -> dict[str, Any]:
    """``info`` with the duration measured for it (unchanged if none was)."""
    if not seconds:
        return info
    return {**info, "format": {**(info.get("format") or {}), "duration": str(seconds)}}


def parse_probe_json(text: bytes) -> dict[str, Any]:
    """ffprobe's JSON answer; UnsupportedMedia if it is not JSON."""
    try:
        info = json.loads(text or b"{}")
    except ValueError:
        raise UnsupportedMedia("not an audio file we can read (unreadable probe)") from None
    if not isinstance(info, dict):
        raise UnsupportedMedia("not an audio file we can read (unreadable probe)")
    return info


def parse_loudnorm(stderr: str) -> list[LoudnormStats]:
    """Every loudnorm report in ffmpeg's log, in the order of the filters in the graph
    (each filter's last report, as ``parse_ebur128``)."""
    found: dict[int, LoudnormStats] = {}
    for match in _LOUDNORM.finditer(stderr):
        try:
            report = json.loads(match[2])
            stats = LoudnormStats(
                integrated=float(report["input_i"]),
                range=float(report["input_lra"]),
                true_peak=float(report["input_tp"]),
                threshold=float(report["input_thresh"]),
                offset=float(report["target_offset"]),
            )
        except (ValueError, KeyError, TypeError):
            continue
        found[int(match[1])] = stats
    return [found[index] for index in sorted(found)]


def parse_ebur128(stderr: str) -> list[Loudness | None]:
    """Every ebur128 summary in ffmpeg's log (``peak=true``), in the order of the filters
    in the graph; None for one without figures (silence measures -inf).

    ffmpeg may set a graph up twice (once to learn its formats); the first one's empty
    summaries come first, so each filter's last summary is the one that counts.
    """
    found: dict[int, Loudness | None] = {}
    for match in _EBUR128.finditer(stderr):
        figures = [re.search(pattern, match[2]) for pattern in _FIGURES]
        values = [float(figure[1]) for figure in figures if figure]
        whole = len(values) == 3 and all(math.isfinite(value) for value in values)
        found[int(match[1])] = Loudness(*values) if whole else None
    return [found[index] for index in sorted(found)]


def parse_sample_count(stderr: str) -> int | None:
    """The samples astats counted (its last summary), if it reported any."""
    counts = _SAMPLES.findall(stderr)
    return int(counts[-1]) if counts else None


def progress_seconds(line: str) -> float | None:
    """The output time an ``-progress`` line reports (``out_time_us=...``), in seconds."""
    # With one "=" partition and rpartition agree; with more, neither side can match
    # (an equivalent mutant).
    key, _, value = line.strip().partition("=")  # pragma: no mutate
    if key == "out_time_us" and value.isdigit():
        return int(value) / 1e6
    return None


def last_line(text: str) -> str:
    """The last non-empty line of a log (ffmpeg says why it failed last), cut to 300."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "unknown error"


def scrub(text: str, names: Mapping[Path, str]) -> str:
    """ffmpeg's message without paths: ``file:/w/input: Invalid data`` -> ``Invalid data``;
    a known path elsewhere becomes its name, any other absolute path ``a file``."""
    for path, name in names.items():
        for spelled in (f"file:{path}", str(path)):
            text = text.replace(f"{spelled}: ", "").replace(spelled, name)
    return _ABSOLUTE_PATH.sub("a file", text)


def as_float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def as_int(value: object) -> int | None:
    number = as_float(value)
    return int(number) if number is not None and math.isfinite(number) else None


def _picture(stream: Mapping[str, Any]) -> Picture:
    return Picture(
        str(stream.get("codec_name", "")),
        as_int(stream.get("width")) or 0,
        as_int(stream.get("height")) or 0,
    )


# What ffmpeg and ffprobe say when they fail, in our words: their own text names heap
# addresses (``[pcm_s16le @ 0x55d0...]``), codecs' internals and paths, and is logged,
# never shown (issue 18). The first pattern found in the log wins.
# What ffmpeg says of any input it does not recognise: a probe says more than that
# (domain/refused_formats.py), a conversion no more.
DAMAGED = "the file is damaged or not audio we can read"
_REASONS = (
    (re.compile(r"too many channels|invalid channel|channel layout|channel count", re.I),
     "the file declares a channel layout we cannot decode"),
    (re.compile(r"sample rate|invalid sample", re.I),
     "the file declares a sample rate we cannot decode"),
    (re.compile(r"moov atom not found|no (?:moov|header)|invalid (?:header|riff)", re.I),
     "the file is incomplete or its header is damaged"),
    (re.compile(r"does not contain any stream|no audio|Output file is empty|"
                r"nothing was encoded", re.I),
     "the file has no audio we can convert"),
    (re.compile(r"end of file|truncat|premature", re.I),
     "the file ends before its audio does (it may be cut short)"),
    (re.compile(r"invalid data found|error while decoding|decoding error|invalid frame|"
                r"could not find codec parameters|unknown format|not supported", re.I),
     DAMAGED),
    (re.compile(r"cannot allocate memory|out of memory", re.I),
     "the file needs more memory than a conversion may use"),
)  # fmt: skip


def reason_for(log: str, generic: str) -> str:
    """Our message for what an ffmpeg log says went wrong; ``generic`` when it is none
    we know (the log itself is for the operator's log, not for users)."""
    for pattern, reason in _REASONS:
        if pattern.search(log):
            return reason
    return generic
