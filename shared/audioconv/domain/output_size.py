"""An upper bound on a conversion's output size, known before it starts.

From the target format, the options asked for and what the input probe says
(duration, sample rate, channels, codec, size), so that a conversion that
cannot fit the worker's disk is refused up front, with a reason the user can
act on, instead of filling the disk hours into the work. Plain data in, plain
data out: the API checks it at upload and retarget, the worker again before it
downloads anything (settings may have changed since).

The bound is deliberately generous:
- PCM (wav, aiff): exactly rate x channels x bytes per sample per second, at the
  resolution the output gets (domain/fidelity.py: the input's, or ``bitDepth``).
- flac, alac: never more than PCM at that resolution (their encoders fall back to
  verbatim frames).
- lossy: the bitrate asked (or the preset's), with 25 % headroom for VBR and
  ABR encoders; LAME VBR at its ceiling of 320 kbit/s (160 below 32 kHz); the
  Vorbis levels' nominal stereo rates scaled by channels.
- a stream copy (same codec in, nothing asked) can be as large as the input.
- plus 1 % and 64 KiB of container overhead, and room for cover art.
"""

from __future__ import annotations

from dataclasses import dataclass

from audioconv.domain.fidelity import output_sample_format
from audioconv.domain.formats import SAMPLE_FORMATS, VORBIS_LEVELS, AudioFormat, vorbis_level
from audioconv.domain.options import ConversionOptions

LOSSY_HEADROOM = 1.25
CONTAINER_OVERHEAD = 1.01
CONTAINER_BYTES = 64 * 1024
# Cover art carried over: at most this much (ffmpeg's own picture limit for Ogg is 8 MiB).
COVER_BYTES = 16 * 1024 * 1024
# When the input does not say (it always does for audio we accept).
FALLBACK_RATE, FALLBACK_CHANNELS = 48000, 2


@dataclass(frozen=True)
class InputShape:
    """What the bound needs to know about the input (from its stored probe)."""

    duration: float
    sample_rate: int | None
    channels: int | None
    codec: str
    size: int
    has_picture: bool = False
    # The input's resolution (Probe.sample_format; None: lossy), and whether it is DSD.
    sample_format: str | None = None
    dsd: bool = False


@dataclass(frozen=True)
class OutputBound:
    """At most ``bytes`` for ``fmt`` at ``sample_rate`` Hz and ``channels`` channels."""

    fmt: AudioFormat
    bytes: int
    sample_rate: int
    channels: int
    kbps: int | None  # the bitrate assumed for a lossy target


# The lowest sample rate that carries the whole audible band (20 kHz).
FULL_BAND_RATE = 40_000


def output_rate(fmt: AudioFormat, options: ConversionOptions, input_rate: int | None) -> int:
    """The sample rate the output gets (what adapters/ffmpeg_command asks ffmpeg for):
    as asked, else the input's. Where the format lacks the input's rate, the lowest
    higher one it has, so no frequency the input holds is lost (24 kHz into WMA is
    32 kHz, not 8); where it has none higher, the highest of the input's family that
    still carries the audible band (88.2 kHz -> 44.1, a whole ratio, not 48), else
    its highest."""
    if options.sample_rate is not None:
        return options.sample_rate
    rate = input_rate or FALLBACK_RATE
    if rate in fmt.sample_rates:
        return rate
    higher = [r for r in fmt.sample_rates if r > rate]
    if higher:
        return min(higher)
    family = [r for r in fmt.sample_rates if rate % r == 0 and r >= FULL_BAND_RATE]
    return max(family or fmt.sample_rates)


def output_channels(
    fmt: AudioFormat, options: ConversionOptions, input_channels: int | None
) -> int:
    """The channel count the output gets: as asked, else the input's, at most the format's."""
    if options.channels is not None:
        return options.channels
    return min(input_channels or FALLBACK_CHANNELS, fmt.max_channels)


def _preset_value(fmt: AudioFormat, options: ConversionOptions) -> tuple[str, int]:
    """('b', kbit/s) or ('q', VBR level) of the encoder arguments used."""
    if options.bitrate is not None:
        if fmt.name == "ogg":  # as adapters/ffmpeg_command.codec_args encodes it
            return "q", vorbis_level(options.bitrate)
        return "b", options.bitrate
    flag, value = fmt.presets[options.quality or "standard"]
    return ("q", int(value)) if flag == "-q:a" else ("b", int(value.rstrip("k")))


def _lossy_kbps(fmt: AudioFormat, options: ConversionOptions, rate: int, channels: int) -> int:
    kind, value = _preset_value(fmt, options)
    if fmt.name == "mp3":
        ceiling = 320 if rate >= 32000 else 160
        return ceiling if kind == "q" else value
    if kind == "q":  # Vorbis: nominal rates are for stereo
        return round(VORBIS_LEVELS[value] * max(channels, 2) / 2 * LOSSY_HEADROOM)
    return round(value * LOSSY_HEADROOM)


def output_bound(fmt: AudioFormat, options: ConversionOptions, source: InputShape) -> OutputBound:
    """An upper bound on the size of ``source`` converted to ``fmt`` with ``options``."""
    rate = output_rate(fmt, options, source.sample_rate)
    channels = output_channels(fmt, options, source.channels)
    seconds = max(source.duration, 0.0)
    kbps: int | None = None
    if fmt.lossless:
        sample_format = output_sample_format(fmt, options, source.sample_format, source.dsd)
        assert sample_format is not None  # every lossless format holds one
        bytes_per_sample = -(-SAMPLE_FORMATS[sample_format][0] // 8)
        audio = rate * channels * bytes_per_sample * seconds
    else:
        kbps = _lossy_kbps(fmt, options, rate, channels)
        audio = kbps * 1000 / 8 * seconds
    if source.codec == fmt.probe_codec:  # may be a stream copy of the input's audio
        audio = max(audio, source.size)
    total = audio * CONTAINER_OVERHEAD + CONTAINER_BYTES
    if source.has_picture and fmt.cover != "none":
        total += min(source.size, COVER_BYTES)
    return OutputBound(fmt, int(total), rate, channels, kbps)


def too_large_reason(bound: OutputBound, source: InputShape, limit: int) -> str | None:
    """None if ``bound`` fits under ``limit`` bytes, else what the user can do about it."""
    if bound.bytes <= limit:
        return None
    fmt = bound.fmt
    what = f"{fmt.name} at {bound.sample_rate} Hz, {bound.channels} channel" + (
        "s" if bound.channels != 1 else ""
    )
    if bound.kbps is not None:
        what += f", ~{bound.kbps} kbit/s"
        advice = "choose a lower bitrate or quality, or fewer channels"
    else:
        advice = (
            "choose a lossy format such as mp3 or opus, or a lower sample rate or fewer channels"
        )
    return (
        f"a {human_duration(source.duration)} input as {what} would be up to "
        f"{human_bytes(bound.bytes)}; the limit for one output is {human_bytes(limit)}: "
        f"{advice}, or split the file"
    )


def human_bytes(count: float) -> str:
    """1.4 GB, 350 MB, 12 kB: decimal units, as people read file sizes."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} bytes"


def human_duration(seconds: float) -> str:
    """2 h 05 min, 3 min 20 s, 12 s."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
