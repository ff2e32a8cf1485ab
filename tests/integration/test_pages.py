"""The page's routes and ``GET /api/formats``, which must agree with the option checks."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from audioconv.domain.formats import FORMATS
from audioconv.domain.options import parse_options


def _catalog(client: FlaskClient) -> dict[str, dict[str, Any]]:
    response = client.get("/api/formats")
    assert response.status_code == 200
    return {f["name"]: f for f in response.get_json()["formats"]}


def _accepted(fmt: str, **fields: Any) -> bool:
    try:
        parse_options(fields, FORMATS[fmt])
    except ValueError:
        return False
    return True


def test_formats_lists_every_format_with_extension_and_mime_type(client: FlaskClient) -> None:
    catalog = _catalog(client)
    assert sorted(catalog) == sorted(FORMATS)
    assert catalog["alac"]["extension"] == "m4a"
    assert catalog["mp3"]["mimeType"] == "audio/mpeg"
    assert catalog["flac"]["lossless"] is True
    audio = {"loudness", "truePeak", "start", "end", "fadeIn", "fadeOut"}  # every format's
    assert set(catalog["flac"]["options"]) == {"sampleRate", "channels", "bitDepth", "gain",
                                               *audio}  # fmt: skip
    assert set(catalog["opus"]["options"]) == {"bitrate", "sampleRate", "channels", "quality",
                                               "upscale", "gain", *audio}  # fmt: skip
    assert "gain" not in catalog["wav"]["options"] and "gain" not in catalog["aac"]["options"]
    assert catalog["flac"]["options"]["bitDepth"]["values"] == [16, 24]
    assert catalog["wav"]["options"]["bitDepth"]["values"] == [16, 24, 32]
    assert catalog["wav"]["keeps"]["sampleFormats"][:3] == ["s16", "u8", "s24"]
    assert catalog["wma"]["keeps"]["exactLength"] is False
    inputs = {i["name"]: i for i in client.get("/api/formats").get_json()["inputs"]}
    assert {"wavpack", "ape", "tak", "musepack", "dsf", "dff", "truehd", "ac3"} <= set(inputs)
    assert "hls" not in {d for i in inputs.values() for d in i["demuxers"]}
    assert catalog["wav"]["options"]["loudness"] == {
        "type": "number", "unit": "LUFS", "min": -70.0, "max": -5.0, "default": None,
    }  # fmt: skip
    assert catalog["mp3"]["options"]["quality"]["default"] == "standard"


def test_formats_advertise_exactly_what_the_api_accepts(client: FlaskClient) -> None:
    for name, fmt in _catalog(client).items():
        options = fmt["options"]
        channels = options["channels"]
        assert _accepted(name, channels=channels["max"])
        assert not _accepted(name, channels=channels["max"] + 1)
        for rate in options["sampleRate"]["values"]:
            assert _accepted(name, sampleRate=rate), (name, rate)
        assert not _accepted(name, sampleRate=44101)
        for bits in options.get("bitDepth", {}).get("values", []):
            assert _accepted(name, bitDepth=bits), (name, bits)
        assert not _accepted(name, bitDepth=8)
        assert _accepted(name, upscale=False) == ("upscale" in options), name
        assert _accepted(name, gain="track") == ("gain" in options), name
        loud, peak = options["loudness"], options["truePeak"]
        assert _accepted(name, loudness=loud["min"]) and _accepted(name, loudness=loud["max"])
        assert not _accepted(name, loudness=loud["max"] + 1)
        assert _accepted(name, loudness=-16, truePeak=peak["min"])
        assert not _accepted(name, loudness=-16, truePeak=peak["max"] + 0.5)
        if "bitrate" not in options:
            assert not _accepted(name, bitrate=128)
            assert not _accepted(name, quality="high")
            continue
        bitrate = options["bitrate"]
        assert _accepted(name, bitrate=bitrate["min"]) and _accepted(name, bitrate=bitrate["max"])
        assert not _accepted(name, bitrate=bitrate["max"] + 1)
        for rate, (low, high) in bitrate.get("bySampleRate", {}).items():
            assert _accepted(name, bitrate=high, sampleRate=int(rate))
            assert not _accepted(name, bitrate=high + 1, sampleRate=int(rate))
            assert not _accepted(name, bitrate=low - 1, sampleRate=int(rate))
        for quality in options["quality"]["values"]:
            assert _accepted(name, quality=quality)


def test_mp3_bitrate_limits_depend_on_the_sample_rate(client: FlaskClient) -> None:
    by_rate = _catalog(client)["mp3"]["options"]["bitrate"]["bySampleRate"]
    assert by_rate["8000"] == [8, 64]
    assert by_rate["22050"] == [8, 160]
    assert by_rate["44100"] == [32, 320]


def test_the_page_and_its_files_are_served_without_login(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    for asset in ("/web/app.js", "/web/app.css"):
        assert asset in html
        served = client.get(asset)
        assert served.status_code == 200
        assert served.content_length and served.content_length > 1000
    assert "http" not in html.replace("http-equiv", "")  # nothing loaded from elsewhere


@pytest.mark.parametrize("path", ["/web/missing.js", "/web/../entrypoints/api.py"])
def test_nothing_else_is_served_from_the_web_folder(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "message" in response.get_json()


def test_the_api_index_moved_to_api(client: FlaskClient) -> None:
    index = client.get("/api").get_json()
    assert index["formats"] == sorted(FORMATS)
    assert "GET /api/formats" in index["endpoints"]
