"""The web page at ``/``, its static files, and what it reads: the format catalog.

``GET /api/formats`` describes every target format, the options it accepts and what
a conversion to it keeps, and every input we read, built from ``domain/formats.py``
and ``domain/options.py``: the page, the command-line client and README's "What a
conversion keeps" table (entrypoints/keeps_table.py) take them from here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, jsonify, send_from_directory

from audioconv.domain.fidelity import exact_length
from audioconv.domain.formats import BIT_DEPTHS, FORMATS, INPUTS, QUALITIES, AudioFormat
from audioconv.domain.options import DEFAULT_TRUE_PEAK, ConversionOptions, _bitrate_range
from audioconv.entrypoints import schemas as s
from audioconv.entrypoints.routes.openapi import Operation, Reply, doc
from audioconv.services.dependencies import Dependencies

WEB_DIR = Path(__file__).resolve().parents[2] / "web"

_CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


def endpoints(app: Flask) -> list[str]:
    """Every route the app serves, as ``GET|PUT /api/tasks/<task_id>``, in path order
    (from the app's own URL map, so none is ever left out)."""
    methods: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = _CONVERTER.sub(r"<\1>", rule.rule)
        methods.setdefault(path, set()).update(rule.methods or ())
    order = ("GET", "POST", "PUT", "PATCH", "DELETE")
    return [
        f"{'|'.join(m for m in order if m in methods[path])} {path}" for path in sorted(methods)
    ]


def _field_bounds(name: str) -> tuple[int, int]:
    """The ``ge``/``le`` bounds pydantic enforces on an option, whatever the format."""
    low = high = 0
    for item in ConversionOptions.model_fields[name].metadata:
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    return low, high


def format_options(fmt: AudioFormat) -> dict[str, Any]:
    """The options ``fmt`` accepts, each with its allowed values or range.

    A ``null`` default means "as the input has it, or the nearest the format allows".
    """
    options: dict[str, Any] = {}
    if fmt.bitrates is not None:
        low, high = fmt.bitrates
        bitrate: dict[str, Any] = {
            "type": "integer", "unit": "kbit/s", "min": low, "max": high, "default": None,
            "notWith": "quality",
        }  # fmt: skip
        by_rate = {str(r): list(_bitrate_range(fmt, r)) for r in fmt.sample_rates}
        if any(tuple(v) != fmt.bitrates for v in by_rate.values()):
            bitrate["bySampleRate"] = by_rate
        options["bitrate"] = bitrate
    options["sampleRate"] = {
        "type": "integer", "unit": "Hz", "values": list(fmt.sample_rates), "default": None,
    }  # fmt: skip
    options["channels"] = {
        "type": "integer", "min": _field_bounds("channels")[0], "max": fmt.max_channels,
        "default": None,
    }  # fmt: skip
    if fmt.bitrates is not None:
        options["quality"] = {
            "type": "string", "values": list(QUALITIES), "default": "standard",
            "notWith": "bitrate",
        }  # fmt: skip
        options["upscale"] = {"type": "boolean", "default": True}
    else:
        options["bitDepth"] = {
            "type": "integer", "unit": "bit", "values": bit_depths(fmt), "default": None,
        }  # fmt: skip
    return {**options, **_audio_options()}


def bit_depths(fmt: AudioFormat) -> list[int]:
    """The ``bitDepth`` values ``fmt`` takes (32: floating point)."""
    return [bits for bits, sample_format in BIT_DEPTHS.items() if sample_format in fmt.depths]


def format_keeps(fmt: AudioFormat) -> dict[str, Any]:
    """What a conversion to ``fmt`` keeps of the input (README's "What a conversion
    keeps" is made from this)."""
    exact, reason = exact_length(fmt)
    return {
        "sampleFormats": list(fmt.depths),
        "sampleRates": list(fmt.sample_rates),
        "maxChannels": fmt.max_channels,
        "tags": True,
        "coverArt": fmt.cover != "none",
        "exactLength": exact,
        "exactLengthReason": reason,
    }


def _audio_options() -> dict[str, Any]:
    """Loudness, trim and fades: every format takes them, within the input's duration."""
    low, high = _field_bounds("loudness")
    peak_low, peak_high = _field_bounds("true_peak")
    seconds = {"type": "number", "unit": "s", "min": 0, "default": None}
    return {
        "loudness": {"type": "number", "unit": "LUFS", "min": low, "max": high, "default": None},
        "truePeak": {
            "type": "number",
            "unit": "dBTP",
            "min": peak_low,
            "max": peak_high,
            "default": DEFAULT_TRUE_PEAK,
            "with": "loudness",
        },
        "start": seconds,
        "end": {**seconds, "after": "start"},
        "fadeIn": seconds,
        "fadeOut": seconds,
    }


def format_catalog() -> list[dict[str, Any]]:
    """Every target format, by name, with what a client may ask of it."""
    return [
        {
            "name": fmt.name,
            "extension": fmt.extension,
            "mimeType": fmt.mime_type,
            "codec": fmt.codec,
            "lossless": fmt.lossless,
            "coverArt": fmt.cover != "none",
            "options": format_options(fmt),
            "keeps": format_keeps(fmt),
        }
        for fmt in sorted(FORMATS.values(), key=lambda f: f.name)
    ]


def input_catalog() -> list[dict[str, Any]]:
    """Every input we read: our name, what people call it, ffmpeg's demuxers."""
    return [
        {"name": i.name, "title": i.title, "demuxers": list(i.demuxers)} for i in INPUTS.values()
    ]


def register(app: Flask, deps: Dependencies) -> None:
    @app.get("/")
    @doc(Operation("The web page", {200: Reply("the page", file=("text/html",))}, tag="page"))
    def page() -> Response:
        response = send_from_directory(WEB_DIR, "index.html", max_age=0)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
        )
        return response

    @app.get("/web/<path:name>")
    @doc(Operation("The web page's files", {200: Reply("the file", file=("*/*",))}, (404,),
                   tag="page"))  # fmt: skip
    def web_file(name: str) -> Response:
        return send_from_directory(WEB_DIR, name, max_age=300)

    @app.get("/api")
    @doc(Operation("What this API offers", {200: Reply("its routes", s.ApiIndex)}, tag="about"))
    def api_index() -> Response:
        return jsonify(
            service="audioconv",
            formats=sorted(FORMATS),
            endpoints=endpoints(current_app),
            docs="/api/docs (OpenAPI 3.1: /api/openapi.json); README.md, 'Using it'",
        )

    @app.get("/api/formats")
    @doc(Operation(
        "Every target format and the options it takes",
        {200: Reply("the formats", s.Formats)}, tag="formats",
    ))  # fmt: skip
    def formats() -> Response:
        return jsonify(formats=format_catalog(), inputs=input_catalog())
