"""The API's request and response bodies as pydantic models: the one contract of the API.

The OpenAPI document is made of them, and the routes validate each request body, form
and query with them (``web.validated``), so that what the document promises is what
the code checks. A validation error is a 400 ``{"message", "requestId"}`` naming the
field (``web.error_message``). A constraint given as ``json_schema_extra`` is in the
document but checked by the service, with its own words (a password's least length,
a username's characters).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, Self, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from audioconv.domain.album_layout import LAYOUTS, Layout
from audioconv.domain.api_key import MAX_KEY_NAME_CHARS, Scope
from audioconv.domain.batch import MAX_BATCH_NAME_CHARS
from audioconv.domain.errors import InvalidInput
from audioconv.domain.formats import FORMATS, Quality
from audioconv.domain.identity import MAX_EMAIL_CHARS, MAX_USERNAME_CHARS
from audioconv.domain.model import MAX_ID, TaskStatus
from audioconv.domain.options import OPTION_FIELDS, ConversionOptions, requested_options
from audioconv.domain.preset import MAX_PRESET_NAME_CHARS
from audioconv.domain.source_url import MAX_URL_CHARS as MAX_SOURCE_URL_CHARS
from audioconv.domain.webhook_events import MAX_URL_CHARS
from audioconv.services import api_keys, presets
from audioconv.services.auth import MAX_PASSWORD_CHARS, MIN_PASSWORD_LENGTH
from audioconv.services.tasks import has_control_characters, target_format

# Longest text field a request may carry (file names, tokens), unless its own cap says.
MAX_FIELD_CHARS = 1024
# An option's value (``192k``, ``standard``).
MAX_OPTION_CHARS = 32
# A format's name (mp3, alac, ...).
MAX_FORMAT_CHARS = 16

_camel = ConfigDict(populate_by_name=True)
# A request's fields go by their names in the API only (``sampleRate``, not ``sample_rate``).
_REQUEST = ConfigDict(populate_by_name=False)
# A pattern's end that is the text's end: ``$`` alone also matches before a final line
# break in Python's regular expressions (and so in what test generators make of it).
_END = r"(?!\n)$"
_FORMAT_NAMES: Any = {"enum": sorted(FORMATS), "maxLength": MAX_FORMAT_CHARS}


def as_is(message: str) -> PydanticCustomError:
    """A validation error whose message is the whole sentence the client gets."""
    return PydanticCustomError("as_is", "{message}", {"message": message})


def _given(value: Any) -> Any:
    """Text that is there: anything else (absent, empty, not text) is a missing field."""
    if not isinstance(value, str) or not value:
        raise PydanticCustomError("missing", "Field required")
    return value


def _no_controls(value: str) -> str:
    if has_control_characters(value):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return value


# Text that must be given (_GIVEN) with no control character in it (_PLAIN), as each
# of these: Field says how long it may be.
_GIVEN, _PLAIN = BeforeValidator(_given), AfterValidator(_no_controls)
Username = Annotated[str, _GIVEN, Field(max_length=MAX_USERNAME_CHARS), _PLAIN]
Email = Annotated[str, _GIVEN, Field(max_length=MAX_EMAIL_CHARS), _PLAIN]
Password = Annotated[str, _GIVEN, Field(max_length=MAX_PASSWORD_CHARS), _PLAIN]
Text = Annotated[str, _GIVEN, Field(max_length=MAX_FIELD_CHARS), _PLAIN]
FormatName = Annotated[str, _GIVEN, Field(max_length=MAX_FORMAT_CHARS), _PLAIN]


def _text(pattern: str) -> Any:
    """Text matching ``pattern`` (in the document only: pydantic's regular expressions
    have no look-ahead), at most MAX_OPTION_CHARS long."""
    return Annotated[
        str, Field(max_length=MAX_OPTION_CHARS, json_schema_extra={"pattern": pattern})
    ]


def _option_text(value: Any, info: ValidationInfo) -> Any:
    """An option's value as given, for ``Options`` to check as a whole: only its length
    is checked here (text of at most MAX_OPTION_CHARS characters)."""
    if isinstance(value, str) and len(value) > MAX_OPTION_CHARS:
        name = info.field_name or ""
        alias = ConversionOptions.model_fields[name].alias or name
        raise as_is(f"option {alias!r} must be at most {MAX_OPTION_CHARS} characters")
    return value


def _option(documented: Any) -> Any:
    """A conversion option: ``documented`` in the document; any value when validated,
    which ``Options`` hands to ``ConversionOptions`` (its bounds, its messages)."""
    return Annotated[documented, PlainValidator(_option_text, json_schema_input_type=documented)]


def _number(name: str, pattern: str = r"^[0-9]+" + _END, kind: type = int) -> Any:
    """A conversion option as a number (``kind``) in ``ConversionOptions``' bounds, or
    as text (form fields are text) of at most MAX_OPTION_CHARS characters."""
    bounds: dict[str, Any] = {}
    for item in ConversionOptions.model_fields[name].metadata:
        for key in ("ge", "le"):
            if getattr(item, key, None) is not None:
                bounds[key] = getattr(item, key)
    text = _text(pattern)
    return _option(Annotated[kind, Field(**bounds)] | text | None)


def _decimal(name: str) -> Any:
    """A conversion option in seconds, LUFS or dB: a decimal number."""
    return _number(name, r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?" + _END, float)


class Error(BaseModel):
    """Every error: a 4xx status and a sentence a person can act on."""

    message: str = Field(min_length=1, description="what went wrong, in words")
    requestId: str = Field(
        min_length=1,
        description="this request's id, as in the X-Request-Id response header and in "
        "the server's log lines: quote it when reporting a problem",
    )


_PASSWORD_RULE: Any = {"minLength": MIN_PASSWORD_LENGTH}  # services/auth.py checks it


class SignupBody(BaseModel):
    username: Username = Field(
        json_schema_extra={"minLength": 1, "pattern": r"^[^\s\x00-\x1f]+$"},
        description="letters, marks and digits of one script, and . _ - @ + ' (stored "
        "NFKC-normalised and case-folded; no invisible characters, no mixing of look-alike "
        "scripts)",
    )  # fmt: skip
    email: Email = Field(json_schema_extra={"minLength": 3, "format": "email"})
    password1: Password = Field(json_schema_extra=_PASSWORD_RULE)
    password2: Password = Field(json_schema_extra=_PASSWORD_RULE)


class SignedUp(BaseModel):
    id: int = Field(ge=1)
    token: str = Field(description="bearer token for `Authorization: Bearer <token>`")


class LoginBody(BaseModel):
    username: Username = Field(json_schema_extra={"minLength": 1})
    password: Password = Field(json_schema_extra={"minLength": 1})


class Token(BaseModel):
    token: str = Field(description="bearer token, valid 24 hours")


def _optional_text(constraints: Mapping[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A field that may be left out but is text when given (a form field has no null):
    the document says ``string`` with these constraints, and no default."""

    def edit(schema: dict[str, Any]) -> None:
        schema.pop("anyOf", None)
        schema.pop("default", None)
        schema.update({"type": "string", **constraints})

    return edit


class Options(BaseModel):
    """Conversion options (see ``GET /api/formats`` for what each format takes).

    An empty value means the format's default; ``bitrate`` and ``quality`` exclude
    each other.
    """

    model_config = _REQUEST

    bitrate: _number("bitrate", r"^ *[0-9]+[kK]? *" + _END) = Field(  # type: ignore[valid-type]
        default=None, description="kbit/s: a whole number, or with a `k` suffix (`192k`)"
    )
    sample_rate: _number("sample_rate") = Field(  # type: ignore[valid-type]
        default=None, alias="sampleRate", description="Hz"
    )
    channels: _number("channels") = Field(default=None)  # type: ignore[valid-type]
    quality: _option(Quality | None) = Field(  # type: ignore[valid-type]
        default=None, description="preset of lossy formats"
    )
    loudness: _decimal("loudness") = Field(  # type: ignore[valid-type]
        default=None,
        description="normalise to this integrated loudness (LUFS, EBU R128; e.g. -16, -23): "
        "measured first, then adjusted linearly with the measured values",
    )
    true_peak: _decimal("true_peak") = Field(  # type: ignore[valid-type]
        default=None, alias="truePeak",
        description="true-peak ceiling of `loudness` (dBTP; default -1)",
    )  # fmt: skip
    start: _decimal("start") = Field(  # type: ignore[valid-type]
        default=None, description="trim: seconds into the input to start at"
    )
    end: _decimal("end") = Field(  # type: ignore[valid-type]
        default=None, description="trim: seconds into the input to end at (after `start`)"
    )
    fade_in: _decimal("fade_in") = Field(  # type: ignore[valid-type]
        default=None, alias="fadeIn", description="fade-in length, seconds"
    )
    fade_out: _decimal("fade_out") = Field(  # type: ignore[valid-type]
        default=None, alias="fadeOut", description="fade-out length, seconds"
    )
    bit_depth: _number("bit_depth") = Field(  # type: ignore[valid-type]
        default=None, alias="bitDepth",
        description="bits per sample of a lossless target: 16, 24, or 32 (32-bit float; "
        "wav and aiff); default: the input's, or the nearest the format holds. A reduction "
        "is dithered (TPDF)",
    )  # fmt: skip
    upscale: _option(bool | Literal["true", "false", "1", "0"] | None) = Field(  # type: ignore[valid-type]
        default=None,
        description="false: never encode a lossy target above the lossy input's bitrate "
        "(the bitrate is capped at the input's); default true, with a warning",
    )
    gain: _option(Literal["track", "album"] | None) = Field(  # type: ignore[valid-type]
        default=None,
        description="write gain tags, audio untouched: ReplayGain 2.0 (-18 LUFS; mp3 ID3 "
        "TXXX, flac/ogg Vorbis comments, m4a/alac iTunes atoms) or R128_* (opus, Q7.8 "
        "relative to -23 LUFS). `album` (a batch only) adds the album's gain, measured "
        "over all its tracks together once the last is converted. Refused for wav, aiff, "
        "wma and aac",
    )

    _chosen: ConversionOptions = PrivateAttr(default_factory=ConversionOptions)

    @model_validator(mode="after")
    def _as_conversion_options(self) -> Self:
        given = {field.alias or name: getattr(self, name)
                 for name, field in Options.model_fields.items()}  # fmt: skip
        try:
            self._chosen = requested_options(given)
        except ValueError as exc:
            raise as_is(str(exc)) from None
        return self

    @property
    def conversion_options(self) -> ConversionOptions:
        """The options asked for (each within its bounds; the target format may still
        refuse them: the service checks)."""
        return self._chosen


class _Target(BaseModel):
    model_config = _REQUEST

    new_format: FormatName | None = Field(
        default=None, alias="newFormat",
        description="the target format (required unless `preset` gives it)",
        json_schema_extra=_optional_text(_FORMAT_NAMES),
    )  # fmt: skip
    preset: str | None = Field(
        default=None,
        description="the name of one of your presets (`POST /api/presets`): its format "
        "and options, under those this request sets itself",
        json_schema_extra=_optional_text({"minLength": 1, "maxLength": MAX_PRESET_NAME_CHARS}),
    )  # fmt: skip

    @property
    def target(self) -> str:
        """The target format: required, unless the request's preset gave it."""
        if not self.new_format:
            raise InvalidInput("missing field 'newFormat'")
        return self.new_format


class _File(BaseModel):
    model_config = _REQUEST

    file_name: bytes = Field(alias="fileName", description="the audio file (its name is kept)")


class FileName(BaseModel):
    """A file's name as the client gives it."""

    model_config = _REQUEST

    file_name: Text = Field(alias="fileName", json_schema_extra={"minLength": 1})


def _url_or_null(value: Any) -> Any:
    if value is not None and not isinstance(value, str):
        raise as_is("webhookUrl must be a URL (text), or null for none")
    return value


def _switch_or_null(value: Any) -> Any:
    if value is not None and not isinstance(value, bool):
        raise as_is("emailNotifications must be true or false")
    return value


def _address_or_null(value: Any) -> Any:
    if value is not None and (not isinstance(value, str) or not value):
        raise as_is("email must be an e-mail address")
    return value


# A webhook URL (or null: none); its syntax and host are checked by services/profile.py.
def _address(value: Any) -> Any:
    value = _address_or_null(value)
    return None if value is None else _no_controls(value)


# A webhook URL (or null: none): its syntax and host are services/profile.py's to check
# (with their own words), the document shows them.
_URL: Any = (
    Annotated[str, Field(max_length=MAX_URL_CHARS, pattern=r"^(https?://[^\s/?#@]+[^\s#]*)?$")]
    | None
)
WebhookUrl = Annotated[_URL, PlainValidator(_url_or_null, json_schema_input_type=_URL)]
# A new e-mail address (or null: as it is), normalised and checked by the service.
_EMAIL: Any = Annotated[str, Field(min_length=1, max_length=MAX_EMAIL_CHARS)] | None
NewEmail = Annotated[_EMAIL, PlainValidator(_address, json_schema_input_type=_EMAIL)]


_WEBHOOK_URL = (
    "https URL (http too in the embedded mode) to POST this task's signed "
    "event to when it finishes, instead of the profile's (docs/webhooks.md)"
)


class _Webhook(BaseModel):
    model_config = _REQUEST

    webhook_url: WebhookUrl = Field(default=None, alias="webhookUrl", description=_WEBHOOK_URL)


_BATCH_ID: Any = Annotated[int, Field(ge=1, le=MAX_ID)] | _text(r"^[0-9]+" + _END) | None
_DIGITS = re.compile(r"[0-9]+")


def _batch_id(value: Any) -> int | None:
    """The ``batch`` field: None when absent or empty, else a whole number in ASCII
    digits (JSON's 7.0 is 7). Whether the caller has such a batch, the service checks
    (a number no batch can have is not found, 404)."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    raise as_is("batch must be a batch id (a whole number)")


BatchId = Annotated[_BATCH_ID, PlainValidator(_batch_id, json_schema_input_type=_BATCH_ID)]


class InBatch(BaseModel):
    """The ``batch`` field of an upload (a mixin)."""

    batch: BatchId = Field(
        default=None,
        description="put the task in this batch of yours (`POST /api/batches`, or the "
        "`batchId` of an earlier task); someone else's batch is not found (404)",
    )


# Bases listed last give the first fields: the file and the format, then the options.
class UploadFields(InBatch, _Webhook, Options, _Target):
    """The text fields of ``POST /api/tasks`` (form fields, or a raw upload's query)."""


class UploadForm(UploadFields, _File):
    """``POST /api/tasks``: the file and what to make of it, as multipart form fields.

    Several ``fileName`` parts make one task each, all in one batch (a new one, or
    ``batch``), and the answer is that batch."""


class RawUploadQuery(InBatch, _Webhook, Options):
    """``POST /api/tasks`` with the file as the raw body (``application/octet-stream`` or
    ``audio/*``): its name, the format and the options go in the query string."""

    file_name: str | None = Field(
        default=None, alias="fileName", min_length=1, max_length=MAX_FIELD_CHARS,
        description="the file's name (raw uploads only; required there)",
    )  # fmt: skip
    new_format: str | None = Field(
        default=None, alias="newFormat", max_length=MAX_FORMAT_CHARS,
        description="the target format, one of " + ", ".join(sorted(FORMATS))
        + " (raw uploads only; required there unless `preset` gives it)",
        json_schema_extra=_optional_text(_FORMAT_NAMES),
    )  # fmt: skip
    preset: str | None = Field(
        default=None,
        description="one of your presets' names: its format and options, under these",
        json_schema_extra=_optional_text({"minLength": 1, "maxLength": MAX_PRESET_NAME_CHARS}),
    )  # fmt: skip


class ChangeFormatBody(_Webhook, Options, _Target):
    """``PUT /api/tasks/{task_id}``: convert again (JSON or form fields); ``webhookUrl``,
    when given, replaces the task's own (empty or null: none)."""


# Documented here, checked by services/url_import.py (whose refusals say why: the
# scheme, a password in it, a private host).
_SOURCE_URL: dict[str, Any] = {
    "type": "string", "minLength": 1, "maxLength": MAX_SOURCE_URL_CHARS,
    "pattern": r"^https?://[^\s/?#@]+[^\s#]*$",
}  # fmt: skip


class UrlImportBody(InBatch, _Webhook, Options, _Target):
    """``POST /api/tasks`` as JSON: the server fetches the file at ``sourceUrl``."""

    source_url: Any = Field(
        alias="sourceUrl",
        description="the http(s) URL of the file (a signed URL's query string is kept, "
        "never logged or shown); its host must be a public address, as must every "
        "redirect's. A list: one task each, all in one batch, answered with the batch",
        json_schema_extra={"anyOf": [_SOURCE_URL, {"type": "array", "items": _SOURCE_URL,
                                                   "minItems": 1}]},
    )  # fmt: skip


class StartUploadBody(InBatch, _Webhook, Options, _Target, FileName):
    """``POST /api/uploads``: announce a direct upload; PUT the file to the ticket's URL."""

    resumable: bool = Field(
        default=False,
        description="a Cloud Storage resumable session instead of one PUT (the cloud; "
        "404 in the embedded mode, whose resumable uploads are tus): needs `size`",
    )
    size: int | None = Field(
        default=None, ge=0, le=2**62, description="the file's bytes (resumable sessions)"
    )

    @model_validator(mode="before")
    @classmethod
    def _session_first(cls, data: Any) -> Any:
        """``resumable`` and, for a session, its ``size``, before any other field."""
        if not isinstance(data, dict) or data.get("resumable") in (None, False):
            return data
        if data.get("resumable") is not True:
            raise as_is("resumable must be true or false")
        size = data.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise as_is("a resumable upload needs size: the file's bytes, a whole number")
        return data

    @property
    def resumable_size(self) -> int | None:
        """The file's size when a resumable session is asked for, else None."""
        return self.size if self.resumable else None


class Loudness(BaseModel):
    """EBU R128 figures of a file, measured when the task was converted."""

    model_config = _camel

    integrated: float = Field(description="integrated loudness, LUFS")
    range: float = Field(description="loudness range, LU")
    true_peak: float = Field(alias="truePeak", description="true peak, dBTP")


class GainTags(BaseModel):
    """The gain tags written into the output (`gain` option): gains in dB (ReplayGain
    2.0, reference -18 LUFS), peaks as ratios of full scale (true peak)."""

    model_config = _camel

    track_gain: float = Field(alias="trackGain")
    track_peak: float = Field(alias="trackPeak", ge=0)
    track_loudness: float = Field(alias="trackLoudness", description="LUFS")
    album_gain: float | None = Field(default=None, alias="albumGain")
    album_peak: float | None = Field(default=None, alias="albumPeak", ge=0)
    album_loudness: float | None = Field(
        default=None, alias="albumLoudness",
        description="LUFS, all the album's tracks gated together",
    )  # fmt: skip


class MediaDetails(BaseModel):
    """What we found in a file: the input as probed at upload; the output as the
    encoder made it (its duration is the encoder's own count of what it wrote, and
    its exact count of samples once the report pass ran)."""

    model_config = _camel

    format: str | None
    codec: str
    duration: float = Field(description="seconds")
    bitrate: int | None = Field(
        description="bit/s: the input's stream bitrate; the output's average, the whole file"
    )
    sample_rate: int | None = Field(alias="sampleRate", description="Hz")
    channels: int | None
    loudness: Loudness | None = Field(
        default=None, description="measured loudness; null until the report pass ran, "
        "or when it could not be measured (`loudnessReason` says why)",
    )  # fmt: skip
    loudness_reason: str | None = Field(
        default=None, alias="loudnessReason",
        description="why `loudness` is null after the report pass: `too short to measure` "
        "(BS.1770 needs 400 ms) or `too quiet to measure` (silence)",
    )  # fmt: skip
    bit_depth: int | None = Field(
        default=None, alias="bitDepth",
        description="bits per sample of lossless audio (32 also for 32-bit float); "
        "null for lossy audio",
    )  # fmt: skip
    sample_format: str | None = Field(
        default=None, alias="sampleFormat",
        description="lossless audio's sample format: u8, s16, s24, s32 (integers), f32, "
        "f64 (floating point); null for lossy audio",
    )  # fmt: skip
    gain: GainTags | None = Field(
        default=None, description="the output's gain tags (`gain` option); none for silence"
    )


class TaskLinks(BaseModel):
    self: str
    original: str
    converted: str | None = Field(
        description="null until the task is processed (or while a convert-again runs: the "
        "kept output, see `keptOutput`)"
    )
    waveform: str | None = Field(
        default=None,
        description="PNG of input and output waveforms; null until the report pass made it",
    )


class WebhookAttempt(BaseModel):
    """One attempt at delivering a finished revision's webhook event."""

    model_config = _camel

    event_id: str = Field(alias="eventId", description="the same on every attempt at one event")
    attempt: int = Field(ge=1)
    at: datetime
    url: str
    status_code: int | None = Field(alias="statusCode", description="the receiver's answer")
    error: str | None = Field(description="what went wrong when there was no answer")
    result: Literal["delivered", "retrying", "failed"]
    next_attempt_at: datetime | None = Field(
        alias="nextAttemptAt", description="when the next attempt is due, if retrying"
    )


class KeptOutput(BaseModel):
    """An earlier revision's converted file, kept until a new one replaces it."""

    model_config = _camel

    format: str
    file_name: str = Field(alias="fileName")
    bytes: int = Field(ge=0)


class Task(BaseModel):
    """A conversion task, as every task route answers it."""

    model_config = _camel

    id: int = Field(ge=1, le=MAX_ID)
    file_name: str = Field(alias="fileName")
    status: TaskStatus | Literal["downloading"] = Field(
        description="`downloading`: the file at `sourceUrl` is still to be fetched"
    )
    input_format: str = Field(alias="inputFormat")
    new_format: str = Field(alias="newFormat")
    output_file_name: str = Field(alias="outputFileName")
    revision: int = Field(ge=1)
    progress: float = Field(ge=0, le=100, description="percent done while processing")
    error: str | None = Field(description="why the task failed, in words")
    input: MediaDetails | None
    output: MediaDetails | None
    report: Literal["due"] | None = Field(
        default=None,
        description="`due` while the report pass (loudness of input and output, the "
        "output's exact duration, the waveform picture) is still to run after the "
        "conversion; null once it ran (or when none is made)",
    )
    album_gain: Literal["due"] | None = Field(
        default=None,
        alias="albumGain",
        description="`due` while the album's gain tags are still to be written (the "
        "`gain: album` option: once every track of the batch is converted)",
    )
    options: ConversionOptions = Field(description="the options asked for; only those set")
    warnings: list[str] = Field(
        default_factory=list,
        description="what to know about the output before trusting it: a bitrate above "
        "the lossy input's, a lossy input made lossless, clipping (a true peak over 0 dBTP "
        "after a lossy encode); empty when there is nothing to say",
    )
    verified: bool | None = Field(
        default=None,
        description="true: the output was proven to decode to the input's very samples "
        "(MD5 of the decoded audio; a mismatch fails the task); null when the conversion "
        "promises no such thing (a lossy side, or a change of rate, depth or channels)",
    )
    exact_length: bool | None = Field(
        default=None, alias="exactLength",
        description="whether the output's container says exactly how many samples it has; "
        "null until processed",
    )  # fmt: skip
    exact_length_reason: str | None = Field(
        default=None, alias="exactLengthReason",
        description="why not, when `exactLength` is false",
    )  # fmt: skip
    batch_id: int | None = Field(alias="batchId", description="its batch, if any")
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")
    webhook_url: str | None = Field(
        alias="webhookUrl", description="this task's own webhook; null: the profile's, if any"
    )
    source_url: str | None = Field(
        default=None, alias="sourceUrl",
        description="where the file was imported from (no query string shown); null: uploaded",
    )  # fmt: skip
    webhook_deliveries: list[WebhookAttempt] = Field(
        alias="webhookDeliveries", description="each webhook delivery attempt, oldest first"
    )
    expires_at: datetime | None = Field(
        default=None, alias="expiresAt",
        description="when the task and its files are deleted (the server's "
        "`AUDIOCONV_RETENTION_HOURS` after it was made); null: kept until you delete it",
    )  # fmt: skip
    kept_output: KeptOutput | None = Field(
        default=None, alias="keptOutput",
        description="the output of an earlier revision, still downloadable at "
        "`links.converted` while a convert-again runs or after it failed; null once the "
        "new output replaced it (or when there was none)",
    )  # fmt: skip
    links: TaskLinks


class BatchProgress(BaseModel):
    """How far a batch's tasks are."""

    total: int = Field(ge=0, description="tasks in the batch")
    uploaded: int = Field(ge=0)
    processing: int = Field(ge=0)
    processed: int = Field(ge=0)
    failed: int = Field(ge=0)
    done: float = Field(ge=0, le=1, description="finished (processed or failed) / total; "
                        "1 for an empty batch")  # fmt: skip


class BatchLinks(BaseModel):
    self: str
    zip: str = Field(description="one ZIP of every converted file, with a manifest")


class BatchSummary(BaseModel):
    """A batch of tasks, as ``GET /api/batches`` lists it."""

    model_config = _camel

    id: int = Field(ge=1, le=MAX_ID)
    name: str | None
    created_at: datetime = Field(alias="createdAt")
    progress: BatchProgress
    links: BatchLinks


class Batch(BatchSummary):
    """A batch with its tasks (oldest first)."""

    tasks: list[Task]


def _batch_name(value: Any) -> str | None:
    """An optional batch name: text of at most MAX_BATCH_NAME_CHARS, no control characters."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise as_is("name must be text")
    if len(value) > MAX_BATCH_NAME_CHARS:
        raise as_is(f"name must be at most {MAX_BATCH_NAME_CHARS} characters")
    if has_control_characters(value):
        raise as_is("name must not contain control characters")
    return value


_BATCH_NAME: Any = Annotated[str | None, Field(max_length=MAX_BATCH_NAME_CHARS)]


class NewBatchBody(BaseModel):
    """``POST /api/batches``: an optional name (the body may also be empty)."""

    name: Annotated[
        _BATCH_NAME, PlainValidator(_batch_name, json_schema_input_type=_BATCH_NAME)
    ] = Field(default=None)


class UploadTicket(BaseModel):
    """Where and how to PUT the file of a direct upload."""

    model_config = _camel

    upload_id: str = Field(alias="uploadId")
    method: Literal["PUT"]
    url: str = Field(description="signed URL: PUT the raw file bytes there")
    headers: dict[str, str] = Field(description="headers the PUT must carry")
    expires_at: datetime = Field(alias="expiresAt")
    status: str = Field(description="where to poll for the task")
    resumable: bool = Field(
        default=False,
        description="true: `url` is a Cloud Storage resumable session; PUT the file in "
        "pieces with `Content-Range: bytes FIRST-LAST/SIZE`, and ask how far it got with "
        "an empty PUT carrying `Content-Range: bytes */SIZE` (308 with `Range`)",
    )


class UploadPending(BaseModel):
    model_config = _camel

    upload_id: str = Field(alias="uploadId")
    status: Literal["pending"]


class BlobStored(BaseModel):
    key: str
    size: int = Field(ge=0, description="bytes stored")


class FormatKeeps(BaseModel):
    """What a conversion to a format keeps of its input."""

    model_config = _camel

    sample_formats: list[str] = Field(
        alias="sampleFormats",
        description="lossless formats: the sample formats it holds (the input's is kept "
        "where it is one of them; the first is what a lossy input becomes); empty for lossy",
    )
    sample_rates: list[int] = Field(alias="sampleRates", description="Hz")
    max_channels: int = Field(alias="maxChannels")
    tags: bool
    cover_art: bool = Field(alias="coverArt")
    exact_length: bool = Field(
        alias="exactLength", description="its files say exactly how many samples they have"
    )
    exact_length_reason: str | None = Field(alias="exactLengthReason")


class FormatInfo(BaseModel):
    model_config = _camel

    name: str
    extension: str
    mime_type: str = Field(alias="mimeType")
    codec: str
    lossless: bool
    cover_art: bool = Field(alias="coverArt")
    options: dict[str, dict[str, Any]] = Field(
        description="each option it takes, with its type, unit, values or range, default"
    )
    keeps: FormatKeeps


class InputInfo(BaseModel):
    """An input format we read (by content, whatever the file's name)."""

    name: str = Field(description="as tasks name it in `inputFormat`")
    title: str
    demuxers: list[str] = Field(description="the ffmpeg demuxers that read it")


class Formats(BaseModel):
    formats: list[FormatInfo]
    inputs: list[InputInfo]


class ApiIndex(BaseModel):
    service: str
    formats: list[str]
    endpoints: list[str]
    docs: str


class Health(BaseModel):
    status: Literal["ok"]


_CheckState = Literal["ok", "failing", "timeout"]


class ReadinessChecks(BaseModel):
    database: _CheckState
    blobStore: _CheckState
    ffmpeg: _CheckState


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: ReadinessChecks


class NotReady(Error):
    """An error (``message``, ``requestId``) with the state of each check."""

    status: Literal["unavailable"]
    checks: ReadinessChecks


class SweepResult(BaseModel):
    conversions: int = Field(ge=0, description="conversions republished")
    notifications: int = Field(ge=0, description="notifications republished")
    reports: int = Field(ge=0, description="report passes republished")
    expired: int = Field(
        default=0, ge=0,
        description="tasks deleted with their files, past AUDIOCONV_RETENTION_HOURS",
    )  # fmt: skip


_INTEGER = re.compile(r"-?[0-9]+")
_MAX: Any = Annotated[int, Field(ge=1)] | None
_ORDER: Any = Literal["0", "1"]


def _max_tasks(value: Any) -> int | None:
    """``max`` in ASCII digits (``int()`` also takes ``1_0``, `` 10`` and non-ASCII
    digits), at least 1; no one has more than MAX_ID tasks, nor takes the database more."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise as_is("max must be an integer")
    if isinstance(value, str):
        try:
            if not _INTEGER.fullmatch(value):
                raise ValueError(value)
            value = int(value)  # ValueError past Python's limit of digits
        except ValueError:
            raise as_is("max must be an integer") from None
    number: int = value
    if number < 1:
        raise as_is("max must be at least 1")
    return min(number, MAX_ID)


def _order(value: Any) -> str:
    if value not in ("0", "1"):
        raise as_is("order must be 0 (ascending) or 1 (descending)")
    return str(value)


class TaskQuery(BaseModel):
    """``GET /api/tasks`` query arguments."""

    max: Annotated[_MAX, PlainValidator(_max_tasks, json_schema_input_type=_MAX)] = Field(
        default=None, description="at most this many tasks"
    )
    order: Annotated[_ORDER, PlainValidator(_order, json_schema_input_type=_ORDER)] = Field(
        default="0", description="0 ascending id, 1 descending"
    )


_LAYOUT: Any = Layout


def _layout(value: Any) -> Layout:
    """``layout``: empty or absent is ``flat``."""
    if value is None or value == "":
        return "flat"
    if value not in LAYOUTS:
        raise as_is(f"layout must be one of {', '.join(LAYOUTS)}")
    return cast(Layout, value)


class ZipQuery(BaseModel):
    """``GET /api/batches/{batch_id}/zip`` query arguments."""

    layout: Annotated[_LAYOUT, PlainValidator(_layout, json_schema_input_type=_LAYOUT)] = Field(
        default="flat",
        description="`flat`: the converted files' names; `album`: `Artist/Album/01 "
        "Title.ext` from their tags, every part a name Windows, macOS and Linux take",
    )


class BlobQuery(BaseModel):
    """``PUT /api/blobs/{key}`` query: the signature of the upload URL."""

    # Not Text: no field's length limit on a signature of the whole key (file name,
    # options, batch); the request line bounds it.
    token: Annotated[str, _GIVEN, _PLAIN] = Field(
        json_schema_extra={"minLength": 1},
        description="signed upload grant, part of the URL the ticket gave",
    )


class Profile(BaseModel):
    """The signed-in user's profile."""

    model_config = _camel

    id: int = Field(ge=1)
    username: str
    email: str
    email_verified: bool = Field(
        alias="emailVerified",
        description="whether the address is verified: until it is, no completion mail "
        "goes to it (`POST /api/me/email/verify` mails the link again)",
    )
    webhook_url: str | None = Field(
        alias="webhookUrl", description="where finished tasks' signed events are POSTed"
    )
    email_notifications: bool = Field(
        alias="emailNotifications", description="whether finished tasks are also mailed"
    )


_PROFILE_FIELDS = ("webhookUrl", "emailNotifications", "email")


class ProfileBody(BaseModel):
    """``PUT /api/me``: the fields to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: WebhookUrl = Field(
        default=None, alias="webhookUrl",
        description="https URL (http too in the embedded mode); null or empty: none",
    )  # fmt: skip
    email_notifications: Annotated[bool | None, BeforeValidator(_switch_or_null)] = Field(
        default=None, alias="emailNotifications", description="false: no mails"
    )
    email: NewEmail = Field(
        default=None,
        description="a new address: unverified until the link mailed to it is followed",
    )  # fmt: skip

    @model_validator(mode="before")
    @classmethod
    def _only_known(cls, data: Any) -> Any:
        unknown = sorted(set(data) - set(_PROFILE_FIELDS)) if isinstance(data, dict) else []
        if unknown:
            raise as_is(f"unknown field(s) {', '.join(unknown)}: only webhookUrl, "
                        "emailNotifications and email can be changed")  # fmt: skip
        return data

    def changes(self) -> dict[str, Any]:
        """The fields the request gave, as ``services.profile.update_profile``'s
        keyword arguments."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class WebhookSecret(BaseModel):
    secret: str = Field(description="the key of the HMAC-SHA256 signature of every event")


class VerifyEmailQuery(BaseModel):
    """``GET /api/auth/verify-email`` query: the link's signed token."""

    token: Text = Field(json_schema_extra={"minLength": 1}, description="as the mailed link has it")


class EmailVerified(BaseModel):
    email: str
    emailVerified: Literal[True]


class VerificationSent(BaseModel):
    email: str = Field(description="where the link goes")
    sent: Literal[True]


class PasswordChangeBody(BaseModel):
    old_password: Password = Field(alias="oldPassword", json_schema_extra={"minLength": 1})
    new_password: Password = Field(alias="newPassword", json_schema_extra=_PASSWORD_RULE)


class PasswordChanged(BaseModel):
    revokedTokens: int = Field(ge=0, description="other tokens of the account now refused")


class DeleteAccountBody(BaseModel):
    password: Password = Field(json_schema_extra={"minLength": 1})


class DeletedCounts(BaseModel):
    tasks: int = Field(ge=0)
    files: int = Field(ge=0, description="stored files: inputs, outputs, waveforms, uploads")
    batches: int = Field(ge=0)
    webhooks: int = Field(
        ge=0, description="webhook URLs: the profile's, tasks' own, uploads' not yet arrived"
    )
    queuedMessages: int = Field(
        ge=0, description="messages waiting in the embedded mode's queue (none on Pub/Sub, "
        "whose messages about the account are dropped when they arrive)",
    )  # fmt: skip
    tokens: int = Field(ge=0, description="API tokens revoked")


class AccountDeleted(BaseModel):
    deleted: DeletedCounts


# A name: some text that is not all blank, with no control characters.
_NAME = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"


class ApiKeyBody(BaseModel):
    """``POST /api/keys``: a name for the key, and what it may do."""

    name: str = Field(
        min_length=1, max_length=MAX_KEY_NAME_CHARS, pattern=_NAME,
        description="what the key is for (e.g. `nightly job`)",
    )  # fmt: skip
    scopes: list[Scope] = Field(
        min_length=1,
        description="`convert`: upload, read, download, convert again and delete tasks "
        "(and batches); `read`: only read and download them",
    )

    @model_validator(mode="before")
    @classmethod
    def _in_the_services_words(cls, data: Any) -> Any:
        """The name trimmed, the scopes each once; what is wrong said as the service
        says it (name first)."""
        if not isinstance(data, dict):
            return data
        try:
            name = api_keys.checked_key_name(data.get("name"))
            scopes = api_keys.checked_scopes(data.get("scopes"))
        except InvalidInput as exc:
            raise as_is(str(exc)) from None
        return {**data, "name": name, "scopes": scopes}


class ApiKey(BaseModel):
    """An API key as listed: never the key itself, only its first characters."""

    model_config = _camel

    id: int = Field(ge=1, le=MAX_ID)
    name: str
    prefix: str = Field(description="the key's first characters (`ak_live_3f9c1a2b`)")
    scopes: list[Scope]
    created_at: datetime = Field(alias="createdAt")
    last_used_at: datetime | None = Field(
        alias="lastUsedAt", description="its last use, to the minute; null: never used"
    )


class NewApiKey(ApiKey):
    """A key just made: ``key`` is shown this once (only a hash of it is kept)."""

    key: str = Field(
        description="the key, for `Authorization: Bearer <key>`; shown only now",
        pattern=r"^ak_live_[0-9a-f]{64}$",
    )


class _PresetFields(BaseModel):
    model_config = _REQUEST

    name: str = Field(
        min_length=1, max_length=MAX_PRESET_NAME_CHARS, pattern=_NAME,
        description="what uploads name it by (`preset`); unique among yours",
    )  # fmt: skip
    new_format: str = Field(
        alias="newFormat", description="the target format", json_schema_extra=_FORMAT_NAMES
    )


class PresetBody(Options, _PresetFields):
    """``POST /api/presets`` and ``PUT /api/presets/{preset_id}``: a name, a format and
    the options an upload takes (checked by the same rules). The name and the format
    are checked first, in the service's words; then the options."""

    @model_validator(mode="before")
    @classmethod
    def _name_then_format(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = ("name", "newFormat", *OPTION_FIELDS)
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise as_is(f"unknown field {unknown[0]!r}; a preset has name, newFormat and "
                        f"the options {', '.join(OPTION_FIELDS)}")  # fmt: skip
        try:
            name = presets.checked_preset_name(data.get("name"))
            if data.get("newFormat") in (None, ""):
                raise InvalidInput("missing field 'newFormat': the preset's target format")
            target = target_format(data.get("newFormat"))
        except InvalidInput as exc:
            raise as_is(str(exc)) from None
        return {**data, "name": name, "newFormat": target}


class Preset(BaseModel):
    """A saved choice of format and options; ``preset: NAME`` on an upload uses it."""

    model_config = _camel

    id: int = Field(ge=1, le=MAX_ID)
    name: str
    new_format: str = Field(alias="newFormat")
    options: ConversionOptions = Field(description="the options it sets; only those set")
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")


MODELS: tuple[type[BaseModel], ...] = (
    Error, SignupBody, SignedUp, LoginBody, Token, UploadForm, ChangeFormatBody,
    StartUploadBody, UrlImportBody, MediaDetails, TaskLinks, Task, BatchProgress, BatchLinks,
    BatchSummary,
    Batch, NewBatchBody, UploadTicket, UploadPending, BlobStored,
    FormatKeeps, FormatInfo, InputInfo,
    Formats, ApiIndex, Health, Readiness, NotReady, SweepResult, WebhookAttempt,
    Profile, ProfileBody, WebhookSecret, VerifyEmailQuery, EmailVerified, VerificationSent,
    PasswordChangeBody, PasswordChanged, DeleteAccountBody, DeletedCounts, AccountDeleted,
    ApiKeyBody, ApiKey, NewApiKey, PresetBody, Preset,
)  # fmt: skip
