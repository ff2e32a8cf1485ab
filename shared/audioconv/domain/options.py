"""Per-task conversion options (bitrate, sample rate, channels, quality preset),
checked against the target format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from audioconv.domain.formats import QUALITIES, AudioFormat, Quality

# Request field names (multipart form or JSON), in the API's camelCase.
OPTION_FIELDS = ("bitrate", "sampleRate", "channels", "quality")


class ConversionOptions(BaseModel):
    """What a client may choose; None everywhere means the format's defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    bitrate: int | None = Field(default=None, ge=1, le=1000, description="kbit/s")
    sample_rate: int | None = Field(default=None, alias="sampleRate", ge=1000, le=384000)
    channels: int | None = Field(default=None, ge=1, le=8)
    quality: Quality | None = None

    @field_validator("bitrate", mode="before")
    @classmethod
    def _kilo_suffix(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower().endswith("k"):
            return value.strip()[:-1]
        return value

    @field_validator("quality", mode="before")
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
        return self


def _bitrate_range(fmt: AudioFormat, sample_rate: int | None) -> tuple[int, int]:
    assert fmt.bitrates is not None
    if fmt.name == "mp3" and sample_rate is not None:
        # MPEG-1 (32-48 kHz), MPEG-2 (16-24 kHz), MPEG-2.5 (8-12 kHz) layer III.
        return (32, 320) if sample_rate >= 32000 else (8, 160) if sample_rate >= 16000 else (8, 64)
    return fmt.bitrates


def parse_options(raw: Mapping[str, Any], fmt: AudioFormat) -> ConversionOptions:
    """Options from request fields (empty values ignored), checked for ``fmt``.

    ValueError with a readable message for anything ``fmt`` cannot do.
    """
    given = {k: v for k, v in raw.items() if v is not None and v != ""}
    try:
        options = ConversionOptions.model_validate(given)
    except ValidationError as exc:
        raise ValueError("; ".join(_describe(err) for err in exc.errors())) from None
    return options.checked_for(fmt)


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
    return f"{field}: {err['msg']}"
