"""Random requests at every route of the API, logged in and not: never a 5xx, and every
error is JSON with a ``message``. On SQLite and PostgreSQL.

The routes come from ``app.url_map``, so a new route is fuzzed without touching this
file. ``make test`` runs a short profile; a nightly-length run is
``HYPOTHESIS_PROFILE=nightly .venv/bin/pytest -p no:cacheprovider tests/integration/test_fuzz.py``.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.api import ApiClient
from tests.support.audio import make_audio
from tests.unit.fakes import routes_app

# The API's background threads (conversions, retries with jitter) draw from `random` while
# hypothesis generates; that is not the strategies' doing.
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module")

_COMMON = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
# ~15 s per database here; make test runs it on SQLite and PostgreSQL.
settings.register_profile("default", max_examples=800, **_COMMON)
settings.register_profile("nightly", max_examples=20_000, **_COMMON)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")

FIELDS = ["username", "email", "password", "password1", "password2", "fileName", "newFormat",
          "bitrate", "sampleRate", "channels", "quality", "oldPassword", "newPassword",
          "webhookUrl", "emailNotifications"]  # fmt: skip
# Most API bodies are JSON: weighted towards it.
BODY_KINDS = ["json", "json", "json", "raw-json", "raw-json", "none", "form", "multipart", "bytes"]
RAW_TYPES = ["application/octet-stream", "text/plain", "application/json; charset=utf-16"]
_ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")

# Values worth trying everywhere: ids, formats, names of the seeded task, odd digits.
SAMPLES = ["", "0", "-1", "1", "2", "1_0", "\u0663", "\ud800", "a\x00b", "../../etc/passwd",
           "mp3", "wav", "192k", "high", "song.mp3", "song.wav", "x" * 2000,
           "9" * 5000]  # fmt: skip
# Text as hostile clients send it: any code point (lone surrogates too), control characters.
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.characters(), max_size=8
    ),
    st.sampled_from(SAMPLES),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=12,
)
# Objects shaped like the API's bodies (its field names, mostly text) and anything else.
json_objects = st.dictionaries(
    st.sampled_from(FIELDS), hostile_text | json_values, min_size=1, max_size=len(FIELDS)
) | st.dictionaries(hostile_text, json_values, max_size=4)
# Bytes for URL parts and raw bodies: invalid UTF-8 included.
raw_bytes = st.binary(max_size=64) | st.sampled_from([b"\xed\xa0\x80", b"\xff\xfe", b"%00"])


def _segment(kind: str | None) -> st.SearchStrategy[str]:
    """A URL-encoded value for one route argument."""
    digits = (st.integers(min_value=-1, max_value=300) | st.integers(min_value=-1)).map(str)
    as_text = hostile_text.filter(lambda t: not _has_surrogate(t)).map(str.encode) | raw_bytes
    safe = "/" if kind == "path" else ""
    encoded = as_text.map(lambda b: quote(b, safe=safe))
    return (digits | encoded) if kind == "int" else encoded


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


# Every route of the API: its rules do not depend on the dependencies it is built with.
RULES = [rule for rule in routes_app().url_map.iter_rules() if rule.endpoint != "static"]


@st.composite
def api_requests(draw: st.DrawFn) -> dict[str, Any]:
    rule = draw(st.sampled_from(RULES))
    # OPTIONS too where a rule has no other method (tus's discovery: OPTIONS only).
    methods = sorted((rule.methods or {"GET"}) - {"OPTIONS"}) or ["OPTIONS"]
    method = draw(st.sampled_from(methods))
    path = _ARGUMENT.sub(lambda m: draw(_segment(m.group(1))), rule.rule)
    query = draw(st.dictionaries(st.sampled_from(["max", "order", "token"]) | hostile_text,
                                 hostile_text, max_size=3))  # fmt: skip
    query = {k: v for k, v in query.items() if not _has_surrogate(k + v)}
    body_kind = draw(st.sampled_from(BODY_KINDS))
    request: dict[str, Any] = {"method": method, "path": path, "query_string": urlencode(query)}
    if body_kind == "json":
        request["data"] = json.dumps(draw(json_objects | json_values))
        request["content_type"] = "application/json"
    elif body_kind == "raw-json":  # what json.dumps cannot make: deep nesting, bad bytes
        depth = draw(st.sampled_from([2, 900, 1100, 5000, 70_000]) | st.integers(1, 3000))
        request["data"] = draw(st.sampled_from(["[" * depth, '{"a":' * depth, "{}"])).encode()
        request["data"] += draw(st.sampled_from([b"", b"]", b"\xff"]))
        request["content_type"] = "application/json"
    elif body_kind in ("form", "multipart"):
        form = draw(st.dictionaries(st.sampled_from(FIELDS) | hostile_text, hostile_text,
                                    max_size=5))  # fmt: skip
        form = {k: v for k, v in form.items() if not _has_surrogate(k + v)}
        request["data"] = form
        if body_kind == "multipart":
            name = draw(hostile_text.filter(lambda t: not _has_surrogate(t)))
            form["fileName"] = (_file_body(draw(raw_bytes)), name or "x")
            request["content_type"] = "multipart/form-data"
    elif body_kind == "bytes":
        request["data"] = draw(raw_bytes)
        request["content_type"] = draw(st.sampled_from(RAW_TYPES))
    request["headers"] = draw(_headers())
    return request


def _file_body(data: bytes) -> Any:
    return io.BytesIO(data)


@st.composite
def _headers(draw: st.DrawFn) -> dict[str, str]:
    latin1 = st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=40)
    headers = draw(st.dictionaries(
        st.sampled_from(["Authorization", "X-Appengine-Cron", "X-Forwarded-For", "Range",
                         "If-None-Match", "Accept", "X-Anything"]),
        latin1, max_size=3,
    ))  # fmt: skip
    return headers


@pytest.fixture
def seeded(client: FlaskClient, tmp_path: Path) -> ApiClient:
    """A user with one task, so that ids and names of real tasks get fuzzed too."""
    api = ApiClient(client, "fuzzer")
    song = make_audio(tmp_path / "song.mp3", 0.5, ("-c:a", "libmp3lame"))
    assert api.upload(song, "wav").status_code == 201
    return api


@settings(settings.get_profile(PROFILE))
@given(request=api_requests(), logged_in=st.booleans())
def test_no_request_is_a_server_error(
    client: FlaskClient, seeded: ApiClient, request: dict[str, Any], logged_in: bool
) -> None:
    if logged_in:
        request["headers"] = {**request["headers"], **seeded.headers}
    response = client.open(**request)
    event(f"{request['method']} {response.status_code}")  # --hypothesis-show-statistics
    if logged_in and request["path"] == "/api/auth/logout" and response.status_code == 204:
        seeded.relogin()  # the fuzzing goes on logged in
    sent = repr(request)[:500]
    assert response.status_code < 500, (sent, response.data[:300])
    if response.status_code >= 400 and request["method"] != "HEAD":  # HEAD has no body
        body = response.get_json(silent=True)
        assert isinstance(body, dict), (sent, response.status_code, response.data[:300])
        assert isinstance(body.get("message"), str) and body["message"], (sent, body)
