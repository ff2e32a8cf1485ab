"""The OpenAPI document: valid OpenAPI 3.1, generated from the routes the app really
registers (each one in it, nothing more), and browsable at /api/docs without the
network."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from audioconv.entrypoints.routes.openapi import build_spec
from tests.support.api import ApiClient
from tests.support.audio import make_audio
from tests.support.openapi import conforms
from tests.unit.fakes import routes_app

# Not API: static files, and the docs page with its Swagger UI files.
NOT_API = {"static", "openapi_docs", "openapi_docs_file"}
METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict)
    return body


def _registered() -> set[tuple[str, str]]:
    """(METHOD, path in OpenAPI's {name} spelling) of every API route Flask routes."""
    routes = set()
    for rule in routes_app().url_map.iter_rules():
        if rule.endpoint in NOT_API:
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        routes |= {(m, path) for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    return routes


def _documented(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises with the first violation
    assert spec == build_spec(routes_app())  # what test_schemathesis.py fuzzes


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_route_is_documented_and_every_documented_route_exists(
    spec: dict[str, Any],
) -> None:
    registered, documented = _registered(), _documented(spec)
    assert registered - documented == set(), "routes missing from the document"
    assert documented - registered == set(), "documented routes the app does not have"
    assert ("POST", "/api/tasks") in documented and ("PUT", "/api/blobs/{key}") in documented


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_each_operation_says_what_it_takes_and_answers(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            names = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert names == set(re.findall(r"{(\w+)}", path)), where
            for status, response in operation["responses"].items():
                if int(status) >= 400:  # every error is {"message", "requestId", ...}
                    content = response["content"]["application/json"]["schema"]
                    model = content["$ref"].rsplit("/", 1)[1]
                    assert model == "Error" or (model, status) == ("NotReady", "503"), where
                    assert {"message", "requestId"} <= set(schemas[model]["required"]), where
    assert schemas["Error"]["required"] == ["message", "requestId"]
    upload = spec["paths"]["/api/tasks"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    fields = schemas[form.rsplit("/", 1)[1]]["properties"]
    assert set(fields) == {
        "fileName", "newFormat", "bitrate", "sampleRate", "channels", "quality",
        "webhookUrl", "loudness", "truePeak", "start", "end", "fadeIn", "fadeOut", "batch",
        "bitDepth", "upscale", "gain", "preset",
    }  # fmt: skip
    assert fields["fileName"]["format"] == "binary"
    assert upload["security"] == [{"bearer": []}]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "429" in upload["responses"] and "413" in upload["responses"]
    for route in ("/api/auth/login", "/api/auth/signup", "/api/tasks"):
        throttled = spec["paths"][route]["post"]["responses"]["429"]
        assert "Retry-After" in throttled["headers"], route
    blob = spec["paths"]["/api/blobs/{key}"]["put"]
    assert "application/octet-stream" in blob["requestBody"]["content"]
    assert "security" not in blob  # the signed URL is the credential
    token = {p["name"]: p for p in blob["parameters"] if p["in"] == "query"}["token"]
    assert token["required"] and token["schema"]["minLength"] == 1
    assert {"400", "403", "404", "409"} <= set(blob["responses"])  # 400: no token
    download = spec["paths"]["/api/tasks/{task_id}/{which}"]["get"]["responses"]
    assert "Location" in download["302"]["headers"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.report_pass
def test_real_answers_match_their_models(
    client: FlaskClient, spec: dict[str, Any], tmp_path: Path
) -> None:
    """A real upload's task, task list, upload ticket and format catalog validate
    against the documented models."""
    api = ApiClient(client, "docreader")
    song = make_audio(tmp_path / "song.wav", 0.5)  # BS.1770 needs 0.4 s for a loudness
    created = api.upload(song, "mp3")
    assert created.status_code == 201
    conforms(spec, "Task", created.get_json())
    task = api.wait(created.get_json()["id"], report=True)
    assert (task["status"], task["report"]) == ("processed", None)
    conforms(spec, "Task", task)
    assert task["output"]["loudness"] and task["links"]["waveform"]  # measured and drawn
    waveform = spec["paths"]["/api/tasks/{task_id}/waveform.png"]["get"]["responses"]
    assert "image/png" in waveform["200"]["content"] and "404" in waveform
    start = {"fileName": "b.wav", "newFormat": "flac", "sampleRate": "48000"}
    ticket = client.post("/api/uploads", headers=api.headers, json=start)
    assert ticket.status_code == 201
    conforms(spec, "UploadTicket", ticket.get_json())
    conforms(spec, "Formats", client.get("/api/formats").get_json())
    conforms(spec, "Error", api.get("/api/tasks/999").get_json())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_keys_and_presets_answer_as_documented(client: FlaskClient, spec: dict[str, Any]) -> None:
    api = ApiClient(client, "keyholder")
    made = client.post("/api/keys", json={"name": "cron", "scopes": ["read"]},
                       headers=api.headers).get_json()  # fmt: skip
    conforms(spec, "NewApiKey", made)
    client.get("/api/tasks", headers={"Authorization": f"Bearer {made['key']}"})
    [listed] = api.get("/api/keys").get_json()
    assert listed["lastUsedAt"] is not None
    conforms(spec, "ApiKey", listed)
    body = {"name": "p", "newFormat": "opus", "bitrate": "96k", "upscale": "false"}
    preset = client.post("/api/presets", json=body, headers=api.headers).get_json()
    conforms(spec, "Preset", preset)
    conforms(spec, "Preset", api.get(f"/api/presets/{preset['id']}").get_json())
    keys = spec["paths"]["/api/keys"]["post"]
    assert "403" in keys["responses"] and keys["security"] == [{"bearer": []}]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_docs_page_works_offline_under_its_csp(client: FlaskClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe" not in csp
    html = page.get_data(as_text=True)
    assert "<script>" not in html  # no inline script: the CSP allows none
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    local = [a for a in assets if a.startswith("/")]
    assert all(a.startswith(("/", "data:")) for a in assets), assets  # nothing from outside
    assert "/api/docs/swagger-ui-bundle.js" in local and "/api/docs/swagger-ui.css" in local
    for asset in local:
        if asset.startswith("/api/openapi.json"):
            continue
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.get_data()) > 100, asset
    starter = client.get("/web/api-docs.js").get_data(as_text=True)
    assert '"/api/openapi.json"' in starter and "validatorUrl: null" in starter
    assert client.get("/api/docs/../../../etc/passwd").status_code == 404
