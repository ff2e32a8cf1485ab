"""Per-task conversion options, checked against the target format and the input: the
encoding (bitrate, sample rate, channels, quality preset) and the audio itself
(loudness normalisation, trim, fades)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from audioconv.domain.formats import BIT_DEPTHS, QUALITIES, AudioFormat, Quality
from audioconv.domain.gain import GAIN_MODES, GainMode, gain_refusal

# Request field names (multipart form or JSON), in the API's camelCase.
OPTION_FIELDS = (
    "bitrate", "sampleRate", "channels", "quality",
    "loudness", "truePeak", "start", "end", "fadeIn", "fadeOut", "bitDepth", "upscale", "gain",
)  # fmt: skip
# loudnorm's ranges: integrated target -70..-5 LUFS, true-peak ceiling -9..0 dBTP.
LOUDNESS_RANGE = (-70.0, -5.0)
TRUE_PEAK_RANGE = (-9.0, 0.0)
DEFAULT_TRUE_PEAK = -1.0
# Longest trim or fade position accepted, in seconds (longer than any input we take).
MAX_SECONDS = 24 * 3600.0
# The least audio a trim may keep, in seconds: longer than one frame of any format we
# write (an MP3 frame is 24-72 ms), so a trim that is accepted always makes audio.
MIN_TRIM_SECONDS = 0.1
# The finest step of a number option: ffmpeg's time base is 1 microsecond, and a
# smaller non-zero value (1e-320, a denormal) only ever meant 0 or a mistake.
RESOLUTION = 1e-6


# Not mutated: _seconds runs once, at import, before mutmut can switch a mutant on (what
# it builds is checked: tests/unit/test_options_limits.py, the trim and fade limits).
# pragma: no mutate start
def _seconds(alias: str | None = None, description: str = "seconds") -> Any:
    return Field(
        default=None, alias=alias, ge=0, le=MAX_SECONDS, allow_inf_nan=False,
        description=description,
    )  # fmt: skip


# pragma: no mutate end


class ConversionOptions(BaseModel):
    """What a client may choose; None everywhere means the format's defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    bitrate: int | None = Field(default=None, ge=1, le=1000, description="kbit/s")
    sample_rate: int | None = Field(default=None, alias="sampleRate", ge=1000, le=384000)
    channels: int | None = Field(default=None, ge=1, le=8)
    quality: Quality | None = None
    loudness: float | None = Field(
        default=None, ge=LOUDNESS_RANGE[0], le=LOUDNESS_RANGE[1], allow_inf_nan=False,
        description="target integrated loudness, LUFS",
    )  # fmt: skip
    true_peak: float | None = Field(
        default=None, alias="truePeak", ge=TRUE_PEAK_RANGE[0], le=TRUE_PEAK_RANGE[1],
        allow_inf_nan=False, description="true-peak ceiling with loudness, dBTP",
    )  # fmt: skip
    start: float | None = _seconds(description="trim: seconds into the input to start at")
    end: float | None = _seconds(description="trim: seconds into the input to end at")
    fade_in: float | None = _seconds("fadeIn", "fade-in length, seconds")
    fade_out: float | None = _seconds("fadeOut", "fade-out length, seconds")
    bit_depth: int | None = Field(
        default=None, alias="bitDepth", ge=1, le=64,
        description="bits per sample of a lossless target: 16, 24, or 32 (32-bit float)",
    )  # fmt: skip
    upscale: bool | None = Field(
        default=None,
        description="false: never encode a lossy target above the lossy input's bitrate",
    )
    gain: GainMode | None = Field(
        default=None,
        description="write ReplayGain 2.0 tags (R128 for opus), audio untouched: per track, "
        "or per track and album (album: the whole batch's audio together)",
    )

    @field_validator("bitrate", mode="before")
    @classmethod
    def _kilo_suffix(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower().endswith("k"):
            value = value.strip()[:-1]
        return _plain_number(value, _INTEGER)

    @field_validator("sample_rate", "channels", mode="before")
    @classmethod
    def _plain_integer(cls, value: Any) -> Any:
        return _plain_number(value, _INTEGER)

    @field_validator("loudness", "true_peak", "start", "end", "fade_in", "fade_out", mode="before")
    @classmethod
    def _plain_decimal(cls, value: Any) -> Any:
        return _plain_number(value, _DECIMAL)

    @field_validator("loudness", "true_peak", "start", "end", "fade_in", "fade_out")
    @classmethod
    def _resolution(cls, value: float | None) -> float | None:
        if value is not None and value != 0 and abs(value) < RESOLUTION:
            raise ValueError(f"must be 0 or at least {RESOLUTION:f} in size")
        return value

    @field_validator("quality", "gain", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    def as_json(self) -> dict[str, Any] | None:
        """The options that were set, as stored and shown (None if none were)."""
        return self.model_dump(by_alias=True, exclude_none=True) or None

    def checked_for(self, fmt: AudioFormat) -> ConversionOptions:
        """These options if ``fmt`` can honour them, else ValueError saying why."""
        name = fmt.name
        if self.bitrate is not None and self.quality is not None:
            raise ValueError("give either bitrate or quality, not both")
        if fmt.bitrates is None:
            if self.bitrate is not None:
                raise ValueError(f"{name} is lossless: it has no bitrate to choose")
            if self.quality is not None:
                raise ValueError(f"{name} is lossless: quality presets apply to lossy formats")
            if self.upscale is not None:
                raise ValueError(f"{name} is lossless: upscale caps the bitrate of lossy formats")
        elif self.bitrate is not None:
            low, high = _bitrate_range(fmt, self.sample_rate)
            if not low <= self.bitrate <= high:
                where = f" at {self.sample_rate} Hz" if self.sample_rate else ""
                raise ValueError(f"{name} bitrate{where} must be {low}-{high} kbit/s")
        if self.sample_rate is not None and self.sample_rate not in fmt.sample_rates:
            rates = ", ".join(str(r) for r in fmt.sample_rates)
            raise ValueError(f"{name} sample rate must be one of {rates} Hz")
        if self.channels is not None and self.channels > fmt.max_channels:
            raise ValueError(f"{name} allows at most {fmt.max_channels} channels")
        if self.true_peak is not None and self.loudness is None:
            raise ValueError("truePeak is the ceiling of loudness normalisation: give loudness too")
        if self.end is not None and self.end <= (self.start or 0.0):
            raise ValueError(f"end ({self.end:g} s) must come after start ({self.start or 0:g} s)")
        if self.end is not None and round(self.end - (self.start or 0.0), 6) < MIN_TRIM_SECONDS:
            raise ValueError(_too_short("start and end", self.end - (self.start or 0.0)))
        if self.bit_depth is not None:
            self._check_bit_depth(fmt)
        refused = gain_refusal(self.gain, name)
        if refused is not None:
            raise ValueError(refused)
        return self

    def _check_bit_depth(self, fmt: AudioFormat) -> None:
        """ValueError unless ``fmt`` holds the ``bitDepth`` asked for."""
        if fmt.lossless is False:
            raise ValueError(f"{fmt.name} is lossy: bitDepth applies to lossless formats")
        held = [bits for bits, sample_format in BIT_DEPTHS.items() if sample_format in fmt.depths]
        if self.bit_depth not in held:
            allowed = ", ".join(str(bits) for bits in held)
            raise ValueError(f"{fmt.name} bitDepth must be one of {allowed}")

    def checked_for_input(self, duration: float) -> ConversionOptions:
        """These options if an input lasting ``duration`` seconds allows them, else
        ValueError saying why (trim and fades must fall within the audio)."""
        start = self.start or 0.0
        if start >= duration:
            raise ValueError(f"start ({start:g} s) is not before the audio's end ({duration:g} s)")
        if self.end is not None and self.end > duration + END_SLACK:
            raise ValueError(f"end ({self.end:g} s) is past the audio's end ({duration:g} s)")
        length = min(self.end or duration, duration) - start
        if self.trims and round(length, 6) < MIN_TRIM_SECONDS:
            raise ValueError(_too_short("start" if self.end is None else "start and end", length))
        fades = (self.fade_in or 0.0) + (self.fade_out or 0.0)
        if fades > length:
            raise ValueError(
                f"fadeIn and fadeOut ({fades:g} s together) must fit in the {length:g} s converted"
            )
        return self

    @property
    def trims(self) -> bool:
        """Whether a trim (``start`` or ``end``) was asked for."""
        return self.start is not None or self.end is not None

    @property
    def filtered(self) -> bool:
        """Whether the audio itself is changed (so it must be decoded, never copied)."""
        return any(
            value is not None
            for value in (self.loudness, self.start, self.end, self.fade_in, self.fade_out)
        )

    @property
    def ceiling(self) -> float:
        """The true-peak ceiling of loudness normalisation, dBTP."""
        return DEFAULT_TRUE_PEAK if self.true_peak is None else self.true_peak


# An end this far past a probed duration is still taken (durations are rounded, and
# some containers' durations are estimates).
END_SLACK = 0.5


# Numbers as text: ASCII digits only, one spelling (no ``1_0``, no spaces, no Arabic-
# Indic or fullwidth digits, which Python's own parsing takes).
_INTEGER = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _plain_number(value: Any, spelling: re.Pattern[str]) -> Any:
    if isinstance(value, str) and not spelling.fullmatch(value):
        raise ValueError("must be a number in plain ASCII digits (such as 192 or 1.5)")
    return value


def _too_short(fields: str, length: float) -> str:
    return (
        f"{fields} leave {max(length, 0.0):.6g} s of audio; a trim must keep at least "
        f"{MIN_TRIM_SECONDS:g} s"
    )


def _bitrate_range(fmt: AudioFormat, sample_rate: int | None) -> tuple[int, int]:
    assert fmt.bitrates is not None
    if fmt.name == "mp3" and sample_rate is not None:
        # MPEG-1 (32-48 kHz), MPEG-2 (16-24 kHz), MPEG-2.5 (8-12 kHz) layer III.
        return (32, 320) if sample_rate >= 32000 else (8, 160) if sample_rate >= 16000 else (8, 64)
    return fmt.bitrates


def requested_options(raw: Mapping[str, Any]) -> ConversionOptions:
    """Options from request fields by their API names (empty values ignored), each in
    its own bounds; ValueError with a readable message otherwise. Whether a format can
    honour them is ``checked_for``'s to say."""
    given = {k: v for k, v in raw.items() if v is not None and v != ""}
    try:
        return ConversionOptions.model_validate(given)
    except ValidationError as exc:
        raise ValueError("; ".join(_describe(err) for err in exc.errors())) from None


def parse_options(raw: Mapping[str, Any], fmt: AudioFormat) -> ConversionOptions:
    """Options from request fields (empty values ignored), checked for ``fmt``.

    ValueError with a readable message for anything ``fmt`` cannot do.
    """
    return requested_options(raw).checked_for(fmt)


def stored_options(value: Mapping[str, Any] | None) -> ConversionOptions:
    """Options as kept on a task (already checked when they were accepted)."""
    return ConversionOptions.model_validate(value or {})


def _describe(err: ErrorDetails) -> str:
    # Equivalent mutants: these flat fields' errors have one-part locations, never none.
    field = ".".join(str(part) for part in err["loc"]) or "options"  # pragma: no mutate
    if err["type"] == "extra_forbidden":
        return f"unknown option {field!r}; options are {', '.join(OPTION_FIELDS)}"
    if field == "quality":
        return f"quality must be one of {', '.join(QUALITIES)}"
    if field == "bitrate":
        return f"bitrate must be a whole number of kbit/s (e.g. 192): {err['msg']}"
    if field == "bitDepth":
        return f"bitDepth must be one of {', '.join(map(str, BIT_DEPTHS))} bits: {err['msg']}"
    if field == "upscale":
        return "upscale must be true or false"
    if field == "gain":
        return f"gain must be one of {', '.join(GAIN_MODES)}"
    return f"{field}: {err['msg'].removeprefix('Value error, ')}"
