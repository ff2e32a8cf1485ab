"""What a faithful conversion keeps, changes and tells: the rules, as plain functions.

- **Resolution.** A lossless target keeps the input's sample format where it can hold
  it (24-bit stays 24-bit, 32-bit float stays float in wav and aiff); where it cannot,
  the nearest it holds that loses the least (float into flac: 24-bit). ``bitDepth``
  asks for one. A lossy input (decoded to floating point) becomes 16-bit, DSD 24-bit.
- **Dither.** Every reduction of resolution (fewer bits, or float to integer) is
  dithered (TPDF: flat triangular noise of 2 LSB peak to peak), never truncated.
- **Resampling.** Rate changes use the SoX resampler (soxr) at 28 bits of precision,
  not swresample's default. DSD becomes PCM at 88.2 kHz (176.4 kHz from DSD128 up),
  its ultrasonic noise cut by the resampler's low-pass at 30 kHz.
- **Proof.** A lossless target from a lossless input at the same rate, channels and
  resolution, with nothing applied to the audio, must decode to the very samples the
  input decodes to: the conversion compares their MD5s (``verify_codec``).
- **No invention.** A lossy target above the lossy input's bitrate, a lossless target
  from a lossy input, a rate or depth above the input's: converted as asked, with a
  warning; ``upscale: false`` caps the bitrate at the input's instead.
- **What was measured.** The loudness of audio shorter than one 400 ms block of BS.1770
  is not measured; a lossy output whose true peak goes over 0 dBTP is clipping.
- **The ceiling holds.** With ``loudness``, the output's true peak stays within 0.1 dB
  of ``truePeak``: lossy encoders overshoot what loudnorm kept (and loudnorm's limiter
  by a little), so the output is measured and made again that much quieter where it
  went over.
"""

from __future__ import annotations

from audioconv.domain.formats import BIT_DEPTHS, SAMPLE_FORMATS, VORBIS_LEVELS, AudioFormat
from audioconv.domain.job import ConversionJob
from audioconv.domain.media import Probe
from audioconv.domain.options import ConversionOptions

# TPDF: swresample's triangular dither (no noise shaping: see docs/performance.md).
DITHER_METHOD = "triangular"
# soxr's precision in bits (its "very high quality"; swresample's soxr default is 20).
SOXR_PRECISION = 28
# DSD: PCM rate per decoded rate (ffmpeg decodes DSD64 to 352.8 kHz), and the low-pass.
DSD_RATE, DSD_HIGH_RATE = 88200, 176400
DSD_LOWPASS_HZ = 30000.0
# soxr's own pass-band end, as a share of the output's Nyquist frequency.
SOXR_CUTOFF = 0.91
# BS.1770 gates 400 ms blocks: shorter audio has no integrated loudness to measure.
MIN_LOUDNESS_SECONDS = 0.4
# ebur128's floor: an integrated loudness at or below it is silence, not a measurement.
LOUDNESS_FLOOR = -70.0
# With ``loudness``, the output's true peak stays within this of the ceiling (dB):
# the encode is redone, aiming lower, at most CEILING_RETRIES times.
CEILING_TOLERANCE = 0.1
CEILING_RETRIES = 2
# A target bitrate this far above the input's is an upscale (VBR averages wander).
UPSCALE_MARGIN = 1.1
# Nominal bitrates (kbit/s) of the LAME VBR levels of our presets.
LAME_VBR_KBPS = {6: 115, 2: 190, 0: 245}
# Codec names people know, for warnings.
CODEC_TITLES = {
    "mp3": "MP3", "mp2": "MP2", "aac": "AAC", "vorbis": "Vorbis", "opus": "Opus",
    "wmav2": "WMA", "wmav1": "WMA", "ac3": "AC-3", "eac3": "E-AC-3", "dts": "DTS",
    "amr_nb": "AMR", "amr_wb": "AMR-WB", "musepack7": "Musepack", "musepack8": "Musepack",
    "speex": "Speex",
}  # fmt: skip


def source_rate(probe: Probe) -> int | None:
    """The rate the input's audio is at, for every rule: DSD counts as the PCM rate it
    becomes (88.2 kHz; 176.4 kHz from DSD128 up), anything else as decoded."""
    if probe.is_dsd and probe.sample_rate:
        return DSD_HIGH_RATE if probe.sample_rate >= 4 * DSD_RATE * 2 else DSD_RATE
    return probe.sample_rate


def output_sample_format(
    fmt: AudioFormat, options: ConversionOptions, source: str | None, dsd: bool = False
) -> str | None:
    """The sample format a lossless target gets (None for lossy targets): as asked, else
    the input's if ``fmt`` holds it, else the nearest that loses least."""
    if not fmt.depths:
        return None
    if options.bit_depth is not None:
        return BIT_DEPTHS[options.bit_depth]
    if source is None:
        return "s24" if dsd else next(iter(fmt.depths))
    if source in fmt.depths:
        return source
    bits, floating = SAMPLE_FORMATS[source]
    if floating and "f32" in fmt.depths:
        return "f32"
    held = [s for s in fmt.depths if not SAMPLE_FORMATS[s][1]]
    wider = [s for s in held if SAMPLE_FORMATS[s][0] >= bits]
    if wider and not floating:  # 8-bit into a format without it: 16-bit, exactly
        return min(wider, key=lambda s: SAMPLE_FORMATS[s][0])
    return max(held, key=lambda s: SAMPLE_FORMATS[s][0])


def job_sample_format(job: ConversionJob) -> str | None:
    """The output sample format of ``job`` (None for a lossy target)."""
    probe = job.input
    return output_sample_format(job.format, job.options, probe.sample_format, probe.is_dsd)


def reduces(source: str | None, target: str | None) -> bool:
    """Whether going from ``source`` (None: floating point, decoded lossy or DSD) to the
    integer ``target`` loses resolution, so it must be dithered."""
    if target is None or SAMPLE_FORMATS[target][1]:
        return False  # a lossy encoder, or floating point, takes the samples as they are
    if source is None or SAMPLE_FORMATS[source][1]:
        return True
    return SAMPLE_FORMATS[target][0] < SAMPLE_FORMATS[source][0]


def dither_bits(job: ConversionJob) -> int | None:
    """The bits to dither to when ``job`` reduces resolution; None when it does not."""
    target = job_sample_format(job)
    if target is None:
        return None
    # Filters (loudness, fades) compute in floating point: the result is requantised.
    source = None if job.options.filtered else job.input.sample_format
    return SAMPLE_FORMATS[target][0] if reduces(source, target) else None


def verify_codec(
    job: ConversionJob, output_rate: int | None, output_channels: int | None
) -> str | None:
    """The PCM codec whose MD5 both the input and the output must decode to, when
    ``job`` promises bit-identical audio; None when it does not promise it.

    FLAC's STREAMINFO keeps the MD5 of its samples at their own width, so a flac
    target is compared at that width; everything else as 32-bit integers (or floats).
    """
    probe, fmt = job.input, job.format
    source, target = probe.sample_format, job_sample_format(job)
    if (
        source is None
        or target is None
        or job.options.filtered
        or reduces(source, target)
        or SAMPLE_FORMATS[source][1] != SAMPLE_FORMATS[target][1]
        or output_rate != probe.sample_rate
        or output_channels != probe.channels
    ):
        return None
    if SAMPLE_FORMATS[target][1]:
        return "pcm_f64le" if target == "f64" else "pcm_f32le"
    if fmt.name == "flac":
        return f"pcm_s{SAMPLE_FORMATS[target][0]}le"
    return "pcm_s32le"


def nominal_kbps(fmt: AudioFormat, options: ConversionOptions) -> int | None:
    """The bitrate a lossy target aims at (kbit/s): asked, or its preset's nominal."""
    if fmt.lossless:
        return None
    if options.bitrate is not None:
        return options.bitrate
    flag, value = fmt.presets[options.quality or "standard"]
    if flag == "-b:a":
        return int(value.rstrip("k"))
    if fmt.name == "mp3":
        return LAME_VBR_KBPS.get(int(value), 320)
    return VORBIS_LEVELS.get(int(value), 500)


def input_kbps(probe: Probe) -> int | None:
    """A lossy input's bitrate, kbit/s (None for lossless, DSD, or when not known)."""
    if probe.sample_format is not None or probe.is_dsd or not probe.bitrate:
        return None
    return max(1, round(probe.bitrate / 1000))


def capped_kbps(job: ConversionJob, copied: bool) -> int | None:
    """With ``upscale: false``, the bitrate to ask for instead of one above the input's
    (None: keep what was asked)."""
    source, target = input_kbps(job.input), nominal_kbps(job.format, job.options)
    if job.options.upscale is not False or copied or source is None or target is None:
        return None
    if target <= source:
        return None
    assert job.format.bitrates is not None
    low, high = job.format.bitrates
    return min(high, max(low, source))


def warnings(job: ConversionJob, copied: bool, output_rate: int | None) -> list[str]:
    """What the user should know before trusting the output: nothing is invented."""
    probe, fmt, options = job.input, job.format, job.options
    found: list[str] = []
    source_kbps = input_kbps(probe)
    what = _describe(probe, source_kbps)
    if fmt.lossless and probe.sample_format is None and not probe.is_dsd:
        found.append(
            f"the input is {what} (lossy): as {fmt.name} it keeps what the lossy encoding "
            "lost and only adds size"
        )
    target_kbps = nominal_kbps(fmt, options)
    if (
        not copied
        and source_kbps is not None
        and target_kbps is not None
        and target_kbps > source_kbps * UPSCALE_MARGIN
    ):
        if options.upscale is False:
            found.append(
                f"the input is {what}: the bitrate was capped at its {source_kbps} kbit/s "
                f"(upscale: false) instead of {target_kbps} kbit/s"
            )
        else:
            found.append(f"the input is {what}: {target_kbps} kbit/s adds size, not quality")
    rate = source_rate(probe)
    if options.sample_rate is not None and rate and output_rate and output_rate > rate:
        found.append(f"the input is at {rate} Hz: {output_rate} Hz adds size, not bandwidth")
    target = job_sample_format(job)
    if (
        options.bit_depth is not None
        and probe.sample_format is not None
        and target is not None
        and not SAMPLE_FORMATS[probe.sample_format][1]
        and SAMPLE_FORMATS[target][0] > SAMPLE_FORMATS[probe.sample_format][0]
    ):
        found.append(
            f"the input is {SAMPLE_FORMATS[probe.sample_format][0]}-bit: "
            f"{options.bit_depth}-bit adds size, not resolution"
        )
    return found


def _describe(probe: Probe, kbps: int | None) -> str:
    codec = CODEC_TITLES.get(probe.codec, probe.codec.upper())
    return f"{kbps} kbit/s {codec}" if kbps else codec


def exact_length(fmt: AudioFormat) -> tuple[bool, str | None]:
    """Whether ``fmt`` files say their exact number of samples, and why not if not."""
    return fmt.inexact is None, fmt.inexact


def loudness_reason(seconds: float | None, integrated: float | None) -> str | None:
    """Why a file's loudness is not shown (None: it is): too short for BS.1770's 400 ms
    blocks, or silent (the meter's floor is not a loudness)."""
    if seconds is not None and seconds < MIN_LOUDNESS_SECONDS:
        return "too short to measure"
    if integrated is None or integrated <= LOUDNESS_FLOOR:
        return "too quiet to measure"
    return None


def clipping_warning(fmt: AudioFormat, true_peak: float | None) -> str | None:
    """A warning when a lossy output's true peak goes over 0 dBTP: inter-sample clipping."""
    if fmt.lossless or true_peak is None or true_peak <= 0.0:
        return None
    return (
        f"the output's true peak is {true_peak:+.1f} dBTP: it clips between samples when "
        "played (lower the level, or use loudness with a truePeak ceiling)"
    )


def ceiling_cut(ceiling: float, peak: float | None) -> float | None:
    """How many dB quieter to encode again a lossy output that peaked at ``peak`` dBTP,
    over the ``ceiling`` by more than CEILING_TOLERANCE (None: it is within it)."""
    if peak is None or peak <= ceiling + CEILING_TOLERANCE:
        return None
    return round(peak - ceiling + CEILING_TOLERANCE / 2, 2)


def resample_cutoff(probe: Probe, output_rate: int) -> float | None:
    """soxr's pass-band end for ``probe`` at ``output_rate``, where it is not soxr's own:
    DSD's ultrasonic noise is cut at DSD_LOWPASS_HZ."""
    if not probe.is_dsd:
        return None
    return min(SOXR_CUTOFF, DSD_LOWPASS_HZ / (output_rate / 2))
