"""The command lines of every ffmpeg and ffprobe run, and what a conversion will make.

Pure functions of a ``ConversionJob`` and paths: no process is started here (that is
``adapters/ffmpeg.py``), so every choice (stream copy or encoder, sample rate,
channels, the filter chain of loudness, trim and fades) is tested on plain data.

Every command reads only ``file:`` (and writes progress to ``pipe:``), forces the
input demuxer to the probed one (or admits only the audio demuxers in
INPUT_DEMUXERS), and never reads stdin. Audio decoders run on one thread (decoding
is cheap): each decoder thread's memory arenas count against the children's
address-space limit, and loudnorm's 192 kHz buffers need that room.
"""

from __future__ import annotations

import math
from pathlib import Path

from audioconv.adapters.cover_art import MIME_TYPES
from audioconv.adapters.ffmpeg_parse import LoudnormStats
from audioconv.domain import fidelity, output_size
from audioconv.domain.formats import (
    INPUT_DEMUXERS,
    SAMPLE_FORMATS,
    VORBIS_LAYOUTS,
    VORBIS_LEVELS,
    vorbis_level,
)
from audioconv.domain.job import ConversionJob
from audioconv.domain.media import Probe, average_bitrate

# Text tags longer than this are dropped, not copied (lyrics fit; a 1 MB blob does not).
MAX_TAG_CHARS = 64 * 1024
# loudnorm's largest loudness-range target: normalisation stays linear whatever the
# input's range (only a true peak over the ceiling makes loudnorm compress).
LOUDNORM_MAX_LRA = 50.0
# The waveform picture: one band per file, the input's above the output's.
WAVEFORM_WIDTH, WAVEFORM_BAND = 1200, 160
WAVEFORM_COLORS = ("0x6b7280", "0x2563eb")
# The rate the waveforms are drawn from (Hz): enough for the shape of the sound.
WAVEFORM_RATE = 8000

_BASE = ("-nostdin", "-hide_banner", "-nostats", "-y")


def probe_command(ffprobe: str, path: Path) -> list[str]:
    """ffprobe's JSON description of a file, admitting only the audio demuxers."""
    return [
        ffprobe, "-v", "error",
        "-protocol_whitelist", "file",
        "-format_whitelist", ",".join(INPUT_DEMUXERS),
        "-show_format", "-show_streams", "-of", "json",
        f"file:{path}",
    ]  # fmt: skip


def decoded_time_command(ffmpeg: str, path: Path, demuxer: str) -> list[str]:
    """Decode a file's first audio stream into nothing, printing the time reached
    (``-progress``): the length of a stream whose container does not say it right."""
    return [
        ffmpeg, *_BASE, "-loglevel", "error",
        "-protocol_whitelist", "file,pipe", "-threads", "1", "-f", demuxer, "-i", f"file:{path}",
        "-map", "0:a:0", "-progress", "pipe:1", "-f", "null", "-",
    ]  # fmt: skip


def cover_command(ffmpeg: str, src: Path, demuxer: str, image: Path) -> list[str]:
    """Copy the attached picture's bytes out of ``src`` into ``image``."""
    return [
        ffmpeg, *_BASE, "-loglevel", "error",
        "-protocol_whitelist", "file", "-f", demuxer, "-i", f"file:{src}",
        "-map", "0:v:0", "-c", "copy", "-frames:v", "1", "-f", "rawvideo", f"file:{image}",
    ]  # fmt: skip


def conversion_command(
    ffmpeg: str,
    src: Path,
    job: ConversionJob,
    dst: Path,
    extra_inputs: list[str] | None = None,
    measured: LoudnormStats | None = None,
    md5: Path | None = None,
    gain_db: float = 0.0,
) -> list[str]:
    """The ffmpeg command line for one conversion (the benchmark runs it bare, too).

    ``measured``: the input's loudness (``measure_command``), when normalising it.
    ``md5``: where to write the MD5 of the input's decoded samples, from the same
    decode (a second output), when the job promises bit-identical audio.
    ``gain_db``: a gain after loudness normalisation (a lossy encode that overshot its
    true-peak ceiling is made again this much quieter).
    """
    probe, fmt = job.input, job.format
    cover = probe.picture is not None and probe.picture.codec in MIME_TYPES
    cmd = [
        ffmpeg, *_BASE, "-loglevel", "error",
        "-protocol_whitelist", "file,pipe",
        "-threads", "1", "-f", probe.demuxer, "-i", f"file:{src}", *(extra_inputs or []),
        "-map", "0:a:0",
    ]  # fmt: skip
    if cover and fmt.cover == "stream":
        cmd += ["-map", "0:v:0", "-c:v", "copy", "-disposition:v:0", "attached_pic"]
    cmd += ["-map_metadata", "0", "-map_metadata:g", "0:s:a:0"]
    if extra_inputs:
        cmd += ["-map_metadata", "1"]
    for key, value in probe.tags.items():
        if len(value) > MAX_TAG_CHARS:  # an empty value removes the tag
            cmd += ["-metadata", f"{key}=", "-metadata:s:a:0", f"{key}="]
    chain = audio_filters(job, measured, gain_db)
    if chain:
        cmd += ["-af", chain]
    cmd += [*codec_args(job), *fmt.muxer_args, *exact_length_args(job)]
    cmd += ["-progress", "pipe:1", "-f", fmt.muxer, f"file:{dst}"]
    check = verify_codec(job)
    if md5 is not None and check is not None:
        cmd += ["-map", "0:a:0", "-map_metadata", "-1", "-c:a", check, "-f", "md5", f"file:{md5}"]
    return cmd


def true_peak_command(ffmpeg: str, path: Path) -> list[str]:
    """ebur128's summary (true peak included) of a file's decoded audio, in the log."""
    return [
        ffmpeg, *_BASE, "-loglevel", "info",
        "-protocol_whitelist", "file,pipe",
        "-threads", "1", "-format_whitelist", ",".join(INPUT_DEMUXERS), "-i", f"file:{path}",
        "-map", "0:a:0", "-af", "ebur128=peak=true", "-progress", "pipe:1", "-f", "null", "-",
    ]  # fmt: skip


def decoded_md5_command(ffmpeg: str, path: Path, codec: str, md5: Path) -> list[str]:
    """The MD5 of a file's decoded samples as ``codec`` (PCM), written to ``md5``."""
    return [
        ffmpeg, *_BASE, "-loglevel", "error",
        "-protocol_whitelist", "file",
        "-threads", "1", "-format_whitelist", ",".join(INPUT_DEMUXERS), "-i", f"file:{path}",
        "-map", "0:a:0", "-map_metadata", "-1", "-c:a", codec, "-f", "md5", f"file:{md5}",
    ]  # fmt: skip


def verify_codec(job: ConversionJob) -> str | None:
    """The PCM codec the input and output are compared as, if ``job`` promises that
    they decode to the same samples (domain/fidelity.py)."""
    return fidelity.verify_codec(job, output_sample_rate(job), output_channels(job))


def exact_length_args(job: ConversionJob) -> list[str]:
    """MP4's edit list in samples (its default, milliseconds, cannot say every length)."""
    rate = output_sample_rate(job)
    if job.format.muxer == "ipod" and rate:
        return ["-movie_timescale", str(rate)]
    return []


def measure_command(ffmpeg: str, src: Path, job: ConversionJob) -> list[str]:
    """loudnorm's first pass: measure the audio the conversion will normalise (after
    trim and fades), printing its report (JSON) to the log; writes nothing."""
    chain = [*edit_filters(job), loudnorm_filter(job, None)]
    return [
        ffmpeg, *_BASE, "-loglevel", "info",
        "-protocol_whitelist", "file,pipe",
        "-threads", "1", "-f", job.input.demuxer, "-i", f"file:{src}",
        "-map", "0:a:0", "-af", ",".join(chain),
        "-progress", "pipe:1", "-f", "null", "-",
    ]  # fmt: skip


def report_command(
    ffmpeg: str,
    src: Path,
    demuxer: str,
    dst: Path | None,
    png: Path,
    seconds: tuple[float, float],
) -> list[str]:
    """One pass over the input and the output (lasting about ``seconds``): each one's
    loudness (ebur128 summaries, input first), a PNG of their waveforms (input above
    output), and the output's true length: its decoded samples counted (astats) at
    WAVEFORM_RATE, to the millisecond.

    ``dst`` None: the output decodes to the input's very samples (a stream copy, or a
    lossless target without filters at the input's rate and channels), so the input is
    decoded once and its figures are the output's too (one ebur128 summary; both
    bands drawn from it; its samples counted).

    The waveforms are drawn as they stream (showwaves, a column per ``n`` samples at
    WAVEFORM_RATE), so memory stays flat however long the file; decoders run on one
    thread each, which keeps the run inside the children's address-space limit.
    """
    inputs = zip(("in", "out"), WAVEFORM_COLORS, seconds, strict=True)
    if dst is None:
        decoded = [
            "[0:a:0]asplit=3[in_m][in_w][out_w]",
            "[in_m]ebur128=peak=true:framelog=verbose,anullsink",
        ]
    else:
        decoded = [
            "[0:a:0]asplit=2[in_m][in_w]",
            "[1:a:0]asplit=2[out_m][out_w]",
            "[in_m]ebur128=peak=true:framelog=verbose,anullsink",
            "[out_m]ebur128=peak=true:framelog=verbose,anullsink",
        ]
    graph = ";".join(
        [
            *decoded,
            *(
                f"[{name}_w]aformat=channel_layouts=mono,aresample={WAVEFORM_RATE},"
                + (
                    "astats=measure_perchannel=none:measure_overall=Number_of_samples,"
                    if name == "out"
                    else ""
                )
                + f"showwaves=s={WAVEFORM_WIDTH}x{WAVEFORM_BAND}:mode=cline:draw=full"
                f":scale=sqrt:n={_columns(length)}:colors={color}[{name}_pic]"
                for name, color, length in inputs
            ),
            "[in_pic][out_pic]vstack=inputs=2,format=rgba[wave]",
        ]
    )
    output = [] if dst is None else [
        "-threads", "1", "-format_whitelist", ",".join(INPUT_DEMUXERS), "-i", f"file:{dst}",
    ]  # fmt: skip
    return [
        ffmpeg, *_BASE, "-loglevel", "info",
        "-protocol_whitelist", "file,pipe",
        "-threads", "1", "-f", demuxer, "-i", f"file:{src}", *output,
        "-filter_complex", graph, "-map", "[wave]", "-frames:v", "1",
        "-c:v", "png", "-progress", "pipe:1", "-f", "image2", "-update", "1", f"file:{png}",
    ]  # fmt: skip


def _columns(seconds: float) -> int:
    """Samples per waveform column, so that the whole file fills one picture."""
    return max(1, math.ceil(seconds * WAVEFORM_RATE / WAVEFORM_WIDTH))


def edit_filters(job: ConversionJob) -> list[str]:
    """Trim (``start``/``end``) and fades, in that order, as ffmpeg audio filters."""
    options = job.options
    chain: list[str] = []
    if options.start is not None or options.end is not None:
        bounds = [f"start={_seconds(options.start)}"] if options.start else []
        if options.end is not None:
            bounds.append(f"end={_seconds(options.end)}")
        chain += [f"atrim={':'.join(bounds)}", "asetpts=PTS-STARTPTS"]
    if options.fade_in:
        chain.append(f"afade=t=in:st=0:d={_seconds(options.fade_in)}")
    if options.fade_out:
        start = max(0.0, converted_seconds(job) - options.fade_out)
        chain.append(f"afade=t=out:st={_seconds(start)}:d={_seconds(options.fade_out)}")
    return chain


def loudnorm_filter(job: ConversionJob, measured: LoudnormStats | None) -> str:
    """EBU R128 normalisation to the job's target: the measuring pass without
    ``measured``, the linear second pass with it."""
    options = job.options
    assert options.loudness is not None
    target = f"I={options.loudness:g}:TP={options.ceiling:g}:LRA={LOUDNORM_MAX_LRA:g}"
    if measured is None:
        return f"loudnorm={target}:print_format=json"
    return (
        f"loudnorm={target}"
        f":measured_I={_clamp(measured.integrated, -99, 0):.2f}"
        f":measured_TP={_clamp(measured.true_peak, -99, 99):.2f}"
        f":measured_LRA={_clamp(measured.range, 0, 99):.2f}"
        f":measured_thresh={_clamp(measured.threshold, -99, 0):.2f}"
        f":offset={_clamp(measured.offset, -99, 99):.2f}"
        ":linear=true:print_format=none"
    )


def audio_filters(job: ConversionJob, measured: LoudnormStats | None, gain_db: float = 0.0) -> str:
    """The whole ``-af`` chain of the conversion ('' for none).

    Loudness is normalised only with a measurement of audible sound (silence has no
    loudness to bring anywhere).
    """
    if copies_stream(job):
        return ""
    chain = edit_filters(job)
    if job.options.loudness is not None and measured is not None and measured.loudness:
        chain.append(loudnorm_filter(job, measured))
    if gain_db:
        chain.append(f"volume={gain_db:.2f}dB")
    final = resample_filter(job)
    if final:
        chain.append(final)
    if job.format.name == "wma":
        chain.append(wma_delay_filter(job))
    return ",".join(chain)


def resample_filter(job: ConversionJob) -> str:
    """The one resampler at the end of the chain ('' when none is needed): soxr at high
    precision to the output rate, the layout the encoder takes, and TPDF dither to the
    output's resolution; each part only where it changes something."""
    probe = job.input
    rate, layout = output_sample_rate(job), output_layout(job)
    parts: list[str] = []
    # loudnorm works at 192 kHz: name the rate then.
    if rate is not None and (rate != probe.sample_rate or job.options.loudness is not None):
        parts += [f"osr={rate}", "resampler=soxr", f"precision={fidelity.SOXR_PRECISION}"]
        cutoff = fidelity.resample_cutoff(probe, rate)
        if cutoff is not None:
            parts.append(f"cutoff={cutoff:.4f}")
    if layout is None and job.options.loudness is not None and parts:
        # loudnorm leaves the layout for the next filter to pick, and aresample cannot.
        channels = output_channels(job) or 2
        named = probe.layout not in (None, "unknown")
        layout = probe.layout if named else VORBIS_LAYOUTS.get(channels, "stereo")
    if layout is not None:
        parts.append(f"ochl={layout}")
    bits = fidelity.dither_bits(job)
    if bits is not None:
        parts += [
            f"osf={'s16' if bits <= 16 else 's32'}",
            f"dither_method={fidelity.DITHER_METHOD}",
        ]
        if 16 < bits < 32:
            parts.append(f"output_sample_bits={bits}")
    return f"aresample={':'.join(parts)}" if parts else ""


def output_layout(job: ConversionJob) -> str | None:
    """The channel layout to remix to, where the encoder needs one it is not given: the
    layouts the format defines (multichannel Opus, Vorbis), a change of channel count,
    or a lossy encoder fed a layout ffmpeg cannot name (Speex). None: keep it."""
    probe, fmt = job.input, job.format
    channels = output_channels(job)
    if channels is None:
        return None
    named = (fmt.layouts or VORBIS_LAYOUTS).get(channels)
    if fmt.layouts is not None:
        return named if named != probe.layout else None
    if channels != probe.channels or (probe.layout in (None, "unknown") and not fmt.lossless):
        return named
    return None


def wma_delay_filter(job: ConversionJob) -> str:
    """Silence the length of one WMA frame before the audio: decoders drop the first
    frame (the encoder's delay), which would otherwise take the input's first 46 ms."""
    rate = output_sample_rate(job) or 44100
    frame = 512 if rate <= 16000 else 1024 if rate <= 22050 else 2048
    return f"adelay=delays={frame}S:all=1"


def converted_seconds(job: ConversionJob) -> float:
    """How long the converted part of the input is, by its probed duration."""
    duration = job.input.duration
    end = min(job.options.end, duration) if job.options.end is not None else duration
    return max(0.0, end - (job.options.start or 0.0))


def output_sample_rate(job: ConversionJob) -> int | None:
    """The rate asked for, else the input's if the format has it, else the nearest
    (None when neither is known: ffmpeg keeps the input's)."""
    rate = fidelity.source_rate(job.input)
    if job.options.sample_rate is None and not rate:
        return None
    return output_size.output_rate(job.format, job.options, rate)


def output_channels(job: ConversionJob) -> int | None:
    """The channels asked for, else the input's, at most what the format holds (None
    when neither is known)."""
    if job.options.channels is None and not job.input.channels:
        return None
    return output_size.output_channels(job.format, job.options, job.input.channels)


def copies_stream(job: ConversionJob) -> bool:
    """Whether the input already is what was asked for, so its stream is copied."""
    probe, options = job.input, job.options
    return (
        probe.codec == output_codec(job)
        and options.bitrate is None
        and options.quality is None
        and not options.filtered
        and not probe.is_dsd
        and fidelity.job_sample_format(job) == probe.sample_format
        and output_sample_rate(job) == probe.sample_rate
        and output_channels(job) == probe.channels
        and output_layout(job) is None
    )


def output_codec(job: ConversionJob) -> str:
    """The codec the output is written with (as ffprobe names it): for lossless
    targets, the one for the output's resolution (pcm_s24le for 24-bit wav)."""
    sample_format = fidelity.job_sample_format(job)
    if sample_format is None:
        return job.format.probe_codec
    return job.format.depths[sample_format]


def codec_args(job: ConversionJob) -> list[str]:
    """Encoder arguments: a stream copy when the input already is what was asked for."""
    if copies_stream(job):
        return ["-c:a", "copy"]
    fmt, options, probe = job.format, job.options, job.input
    sample_format = fidelity.job_sample_format(job)
    encoder = fmt.depths[sample_format] if sample_format is not None else fmt.codec
    args = ["-c:a", encoder]
    capped = fidelity.capped_kbps(job, copied=False)
    if capped is not None and fmt.name == "ogg":
        args += ["-q:a", str(vorbis_floor_level(capped))]
    elif capped is not None:
        args += ["-b:a", f"{capped}k"]
    elif options.quality is not None:
        args += fmt.presets[options.quality]
    elif options.bitrate is not None and fmt.name == "ogg":
        args += ["-q:a", str(vorbis_level(options.bitrate))]
    elif options.bitrate is not None:
        args += ["-b:a", f"{options.bitrate}k"]
    else:
        args += fmt.default_args
    if encoder in ("flac", "alac") and sample_format is not None:
        bits = SAMPLE_FORMATS[sample_format][0]
        planar = "p" if encoder == "alac" else ""
        args += ["-sample_fmt", f"s{16 if bits <= 16 else 32}{planar}"]
        args += ["-bits_per_raw_sample", str(bits)]
    rate, channels = output_sample_rate(job), output_channels(job)
    if rate is not None and (rate != probe.sample_rate or options.filtered):
        args += ["-ar", str(rate)]
    if channels is not None and channels != probe.channels:
        args += ["-ac", str(channels)]
    if fmt.name == "opus" and (channels or 0) > 2:
        args += ["-mapping_family", "1"]  # Vorbis channel order, up to 8 channels
    return args


def vorbis_floor_level(kbps: int) -> int:
    """The highest Vorbis quality level whose nominal bitrate is at most ``kbps``."""
    fitting = [level for level, nominal in VORBIS_LEVELS.items() if nominal <= kbps]
    return max(fitting) if fitting else min(VORBIS_LEVELS)


def output_probe(job: ConversionJob, duration: float, size: int) -> Probe:
    """What the conversion made, from what it was told to make and what the encoder
    reported (its output time): no second probe of the output."""
    copied = copies_stream(job)
    return Probe(
        format=job.format.name,
        demuxer=job.format.muxer,
        codec=job.input.codec if copied else output_codec(job),
        duration=round(duration, 3),
        bitrate=average_bitrate(size, duration),
        sample_rate=output_sample_rate(job),
        channels=output_channels(job),
        tags={},
        sample_format=fidelity.job_sample_format(job),
        layout=output_layout(job) or job.input.layout,
    )


def _seconds(value: float | None) -> str:
    """Seconds as ffmpeg reads them, to the microsecond."""
    return f"{value or 0.0:.6f}".rstrip("0").rstrip(".") or "0"


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))
