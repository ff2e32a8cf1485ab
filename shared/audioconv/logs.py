"""Logging: one handler on the root logger, its formats, its context and its redaction.

- ``configure()`` installs it: readable one-line text in the embedded mode, one
  JSON object per line on Google Cloud, with the special fields Cloud Logging
  reads (``severity``, ``message``, ``time``, ``logging.googleapis.com/trace``,
  ``.../spanId``, ``.../trace_sampled``, ``.../labels``, ``httpRequest``) and an
  exception's text in ``stack_trace`` (what Error Reporting picks up).
- ``bound(...)`` puts a request id, trace, task id and user id into every line
  logged meanwhile in this thread or task (contextvars).
- ``Redactor`` (a filter on every root handler) takes passwords, tokens,
  Authorization values, private keys, database URL passwords, signed URLs' query
  strings and the configured secrets out of every message and traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Any

from audioconv.config import LogSettings

REDACTED = "[redacted]"
# Context fields, their Cloud Logging label names (labels are strings) and their
# short names in text lines.
LABELS = {"request_id": "requestId", "task_id": "taskId", "user_id": "userId"}
_SHORT = {"request_id": "req", "task_id": "task", "user_id": "user"}
# An incoming X-Request-Id we take as it is: bounded, and nothing a log or header
# could be confused by.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")

_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "audioconv_log_context", default=MappingProxyType({})
)


# --- context -------------------------------------------------------------------------


def new_request_id() -> str:
    """32 random hex digits (a fifth of what uuid4().hex costs)."""
    return os.urandom(16).hex()


def request_id_from(header: str | None) -> str:
    """The incoming ``X-Request-Id`` when it is sane, else a new one."""
    if header and _SAFE_REQUEST_ID.fullmatch(header):
        return header
    return new_request_id()


def current() -> Mapping[str, Any]:
    """The fields bound now (request_id, trace_id, span_id, trace_sampled, task_id, user_id)."""
    return _context.get()


def bind(**fields: Any) -> None:
    """Add fields to the current context (until the enclosing ``bound`` ends)."""
    _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Fields for every line logged inside the block; the previous ones after it."""
    token = _context.set({k: v for k, v in fields.items() if v is not None})
    try:
        yield
    finally:
        _context.reset(token)


def start(**fields: Any) -> object:
    """Replace the context (a request begins); ``finish(token)`` restores it."""
    return _context.set({k: v for k, v in fields.items() if v is not None})


def finish(token: object) -> None:
    with contextlib.suppress(ValueError):  # made in another context: nothing to restore
        _context.reset(token)  # type: ignore[arg-type]


_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_CLOUD_TRACE = re.compile(r"([0-9a-f]{32})(?:/([0-9]{1,20}))?(?:;o=([01]))?")


def trace_from(header: Callable[[str], str | None]) -> dict[str, Any]:
    """Trace id, span id (16 hex digits) and sampling from the W3C ``traceparent`` or
    ``X-Cloud-Trace-Context: TRACE/SPAN;o=1`` (its span id is decimal) header, looked
    up by ``header`` (``request.headers.get``); {} for none."""
    match = _TRACEPARENT.fullmatch((header("traceparent") or "").strip().lower())
    if match and set(match.group(1)) != {"0"}:
        return {
            "trace_id": match.group(1),
            "span_id": match.group(2) if set(match.group(2)) != {"0"} else None,
            "trace_sampled": bool(int(match.group(3), 16) & 1),
        }
    match = _CLOUD_TRACE.fullmatch((header("X-Cloud-Trace-Context") or "").strip().lower())
    if match and set(match.group(1)) != {"0"}:
        span = int(match.group(2)) if match.group(2) else 0
        return {
            "trace_id": match.group(1),
            "span_id": f"{span:016x}" if 0 < span < 1 << 64 else None,
            "trace_sampled": match.group(3) == "1" if match.group(3) else None,
        }
    return {}


# --- redaction -----------------------------------------------------------------------

_SECRET_NAMES = (
    r"\w*password\w*|passwd|pwd|\w*secret\w*|\w*token|api_?key|private_key\w*|signing_key"
    r"|authorization|credentials?"
)
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM private keys (a service account's key file).
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
                re.S), REDACTED),
    # Authorization values: Bearer / Basic credentials.
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.I), rf"\1 {REDACTED}"),
    # JWTs wherever they are (our API tokens, OIDC tokens).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), REDACTED),
    # The password of a URL (postgresql://user:PASSWORD@host/db).
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@", re.I), rf"\1{REDACTED}@"),
    # name=value, name: value, "name": "value" for secret-looking names.
    (re.compile(rf"""(["']?\b(?:{_SECRET_NAMES})\b["']?\s*[:=]\s*)(?:"[^"]*"|'[^']*'|[^\s,;&)}}]+)""",
                re.I), rf"\1{REDACTED}"),
)  # fmt: skip
# A URL's query string; replaced whole when it signs or grants something.
_QUERY = re.compile(r"\?[^\s\"'<>]*")
_SIGNED_QUERY = re.compile(
    r"(?:^|[?&])(?:x-goog-signature|x-goog-credential|x-amz-signature|signature|sig"
    r"|googleaccessid|token|access_token|key|password)=",
    re.I,
)
# Exact values to redact, newest last; a process has a handful (tests make more).
_literals: dict[str, None] = {}
MAX_LITERALS = 32


def hide(*secrets: str) -> None:
    """Redact these exact values (configured keys and passwords) from every line."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            _literals.pop(secret, None)
            _literals[secret] = None
    while len(_literals) > MAX_LITERALS:
        del _literals[next(iter(_literals))]


# Something at least one rule could match: text without any of these is left as it
# is after one search (most lines, access lines among them).
_SUSPECT = re.compile(
    r"\?|://|-----BEGIN|bearer|basic|eyJ|passw|pwd|secret|token|api_?key|private_key"
    r"|signing_key|authorization|credential",
    re.I,
)


def redact(text: str) -> str:
    """``text`` without anything that grants access."""
    for literal in list(_literals):
        if literal in text:
            text = text.replace(literal, REDACTED)
    if not _SUSPECT.search(text):
        return text
    if "?" in text:
        text = _QUERY.sub(_redact_query, text)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def _redact_query(match: re.Match[str]) -> str:
    return f"?{REDACTED}" if _SIGNED_QUERY.search(match.group()) else match.group()


class Redactor(logging.Filter):
    """Redacts each record's message, exception text and stack, once, in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it, with no arguments
            record.args = None
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record.redacted = True
        return True


# --- formats -------------------------------------------------------------------------


class TextFormatter(logging.Formatter):
    """``2026-11-28 23:01:02,345 INFO audioconv.access [req=... task=12 user=3] message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = current()
        shown = [f"{short}={fields[name]}" for name, short in _SHORT.items() if name in fields]
        record.context = f" [{' '.join(shown)}]" if shown else ""
        return super().format(record)


# Python's level names that are Cloud Logging severities as they are.
_SEVERITIES = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})


class CloudFormatter(logging.Formatter):
    """One JSON object per line, in the shape Cloud Logging's agents parse."""

    def __init__(self, project: str = "") -> None:
        super().__init__()
        self.project = project

    def format(self, record: logging.LogRecord) -> str:
        fields = current()
        entry: dict[str, Any] = {
            "severity": record.levelname if record.levelname in _SEVERITIES else "DEFAULT",
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "logger": record.name,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["stack_trace"] = record.exc_text
            entry["message"] = f"{entry['message']}\n{record.exc_text}"
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        trace = fields.get("trace_id")
        if trace and self.project:
            entry["logging.googleapis.com/trace"] = f"projects/{self.project}/traces/{trace}"
            if fields.get("span_id"):
                entry["logging.googleapis.com/spanId"] = fields["span_id"]
            if fields.get("trace_sampled") is not None:
                entry["logging.googleapis.com/trace_sampled"] = fields["trace_sampled"]
        labels = {label: str(fields[name]) for name, label in LABELS.items() if name in fields}
        if labels:
            entry["logging.googleapis.com/labels"] = labels
        http = getattr(record, "http_request", None)
        if http:
            entry["httpRequest"] = http
        return json.dumps(entry, ensure_ascii=False, default=str)


# --- set-up --------------------------------------------------------------------------


def on_google_cloud() -> bool:
    """App Engine, Cloud Run and Cloud Functions set these in every instance."""
    return any(os.environ.get(v) for v in ("GAE_APPLICATION", "GAE_ENV", "K_SERVICE"))


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``stream``, or to whatever ``sys.stderr`` is at the time of each line."""

    def __init__(self, stream: IO[str] | None) -> None:
        super().__init__(stream)
        self._fixed = stream

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return self._fixed or sys.stderr

    @stream.setter
    def stream(self, value: IO[str] | None) -> None:
        self._fixed = value


def configure(settings: LogSettings | None = None, stream: IO[str] | None = None) -> None:
    """Send every log line through one redacting handler on the root logger (again:
    replaces it). JSON for Google Cloud, text elsewhere, unless ``log_format`` says."""
    settings = settings or LogSettings()
    json_lines = settings.log_format == "json" or (
        settings.log_format == "auto" and on_google_cloud()
    )
    project = settings.gcp_project or os.environ.get("GOOGLE_CLOUD_PROJECT", "")
    handler = _Handler(stream)
    handler.setFormatter(CloudFormatter(project) if json_lines else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # Fields no format here shows: not gathered for every record.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    for each in root.handlers:  # pytest's capture too: nothing unredacted anywhere
        if not any(isinstance(f, Redactor) for f in each.filters):
            each.addFilter(Redactor())
    # Loggers that bring their own handler send through ours instead: Flask's app
    # logger ("audioconv", which is our package's too) and gunicorn's error log.
    for name in ("audioconv", "gunicorn.error"):
        adopt(name)


def adopt(name: str) -> None:
    """Make logger ``name`` write through the root handler only."""
    logger = logging.getLogger(name)
    for each in list(logger.handlers):
        logger.removeHandler(each)
    logger.propagate = True
