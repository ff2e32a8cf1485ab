"""What we know of one audio file: its probe (container, codec, duration, tags, cover)
and its measured loudness, as value objects that the services store and the transcoder
reads, so no later step has to probe or measure the same file again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audioconv.domain.formats import SAMPLE_FORMATS
from audioconv.domain.gain import Gain


def average_bitrate(size: int, seconds: float) -> int | None:
    """A file's average bit rate (bit/s) over its whole length, if it has one."""
    return round(size * 8 / seconds) if seconds > 0 else None


@dataclass(frozen=True)
class Loudness:
    """EBU R128 figures of a file, as ffmpeg's loudnorm measured them."""

    integrated: float  # LUFS
    range: float  # LU
    true_peak: float  # dBTP

    def as_json(self) -> dict[str, float]:
        return {"integrated": self.integrated, "range": self.range, "truePeak": self.true_peak}

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> Loudness | None:
        if not value:
            return None
        return cls(float(value["integrated"]), float(value["range"]), float(value["truePeak"]))


@dataclass(frozen=True)
class Picture:
    """Cover art: ffmpeg's codec name (mjpeg, png, ...) and size in pixels."""

    codec: str
    width: int
    height: int


@dataclass(frozen=True)
class Probe:
    """What ffprobe says about a file's container and first audio stream."""

    format: str | None  # our format name (mp3, m4a, ...) or None if not one we know
    demuxer: str  # ffmpeg demuxer to force when reading it
    codec: str
    duration: float
    bitrate: int | None
    sample_rate: int | None
    channels: int | None
    tags: dict[str, str]
    # The embedded cover image (an attached-picture stream), if any.
    picture: Picture | None = None
    # Measured when the file was converted (or made); None until then.
    loudness: Loudness | None = None
    # Lossless audio: its sample format as formats.SAMPLE_FORMATS names it (s16, s24,
    # f32, ...); None for lossy audio (decoded to floating point) and DSD.
    sample_format: str | None = None
    # The channel layout ffprobe names (stereo, 5.1(side), ...), if it names one.
    layout: str | None = None
    # Why ``loudness`` is None after the report pass (too short to measure, ...).
    loudness_reason: str | None = None
    # False for one stored before the task kept all of it (its demuxer, its sample
    # format: the resolution a conversion must not guess): the worker probes again.
    complete: bool = True
    # The gain tags written into it (``gain`` option: issue 24), if any.
    gain: Gain | None = None

    @property
    def bit_depth(self) -> int | None:
        """Bits per sample of lossless audio (32 for 32-bit float too)."""
        return SAMPLE_FORMATS[self.sample_format][0] if self.sample_format else None

    @property
    def is_dsd(self) -> bool:
        """1-bit DSD (DSF, DSDIFF): neither PCM nor lossy."""
        return self.codec.startswith("dsd_")

    def as_dict(self) -> dict[str, Any]:
        """What users see of a file (the task's ``input`` and ``output``)."""
        shown = {key: getattr(self, attribute) for key, attribute in _SHOWN.items()}
        shown["loudness"] = self.loudness.as_json() if self.loudness else None
        shown["loudnessReason"] = self.loudness_reason
        shown["bitDepth"] = self.bit_depth
        shown["sampleFormat"] = self.sample_format
        if self.gain is not None:
            shown["gain"] = self.gain.as_json()
        return shown

    def as_record(self) -> dict[str, Any]:
        """All of it, as the task stores it (adapters/orm.py), so the worker converts
        without probing again; an incomplete one is stored without its demuxer, so it
        stays incomplete."""
        picture = self.picture
        record = {
            **self.as_dict(),
            "demuxer": self.demuxer,
            "tags": self.tags,
            "layout": self.layout,
            "picture": None if picture is None else [picture.codec, picture.width, picture.height],
        }
        if not self.complete:
            del record["demuxer"]
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> Probe | None:
        """The probe ``as_record`` stored (None for none). One stored before it held all
        (no demuxer, or no sample format) is read as far as it goes, not ``complete``."""
        if not record:
            return None
        picture = record.get("picture")
        return cls(
            format=record.get("format"),
            demuxer=record.get("demuxer") or "",
            codec=record.get("codec") or "",
            duration=float(record.get("duration") or 0.0),
            bitrate=record.get("bitrate"),
            sample_rate=record.get("sampleRate"),
            channels=record.get("channels"),
            tags=dict(record.get("tags") or {}),
            picture=Picture(picture[0], int(picture[1]), int(picture[2])) if picture else None,
            loudness=Loudness.from_json(record.get("loudness")),
            sample_format=record.get("sampleFormat"),
            layout=record.get("layout"),
            loudness_reason=record.get("loudnessReason"),
            complete="demuxer" in record and "sampleFormat" in record,
            gain=Gain.from_json(record.get("gain")),
        )


# The probe's fields users see, by their JSON names (and ``loudness``).
_SHOWN = {
    "format": "format",
    "codec": "codec",
    "duration": "duration",
    "bitrate": "bitrate",
    "sampleRate": "sample_rate",
    "channels": "channels",
}
