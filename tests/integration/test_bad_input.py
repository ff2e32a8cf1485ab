"""Hostile or absurd input is a 4xx with a message, never a 500, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from flask.testing import FlaskClient

from audioconv.services.dependencies import Dependencies
from tests.support.api import ApiClient

HUGE = "99999999999999999999"


@pytest.fixture
def dan(client: FlaskClient) -> ApiClient:
    return ApiClient(client, "dan")


@pytest.mark.parametrize("task_id", [HUGE, str(2**31), "0"])
def test_task_ids_out_of_range_are_missing_tasks(dan: ApiClient, task_id: str) -> None:
    for response in (
        dan.get(f"/api/tasks/{task_id}"),
        dan.get(f"/api/tasks/{task_id}/original"),
        dan.client.put(f"/api/tasks/{task_id}", json={"newFormat": "mp3"}, headers=dan.headers),
        dan.client.delete(f"/api/tasks/{task_id}", headers=dan.headers),
    ):
        assert response.status_code == 404, response.get_json()
        assert f"no task {task_id}" in response.get_json()["message"]


def test_a_task_id_beyond_pythons_digit_limit_matches_no_route(dan: ApiClient) -> None:
    assert dan.get("/api/tasks/" + "9" * 5000).status_code == 404


@pytest.mark.parametrize("limit", [HUGE, str(2**31), str(2**63)])
def test_a_huge_max_lists_everything(dan: ApiClient, limit: str) -> None:
    response = dan.get(f"/api/tasks?max={limit}")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == []


def test_a_non_numeric_max_is_a_400(dan: ApiClient) -> None:
    response = dan.get("/api/tasks?max=" + "9" * 5000)  # beyond Python's int() digit limit
    assert response.status_code == 400
    assert "max must be an integer" in response.get_json()["message"]


@pytest.mark.parametrize("sub", [HUGE, str(2**31), "-1", "0"])
def test_token_for_an_impossible_user_is_invalid(
    client: FlaskClient, deps: Dependencies, sub: str
) -> None:
    now = deps.clock()
    token = jwt.encode(
        {"sub": sub, "iat": now, "exp": now + timedelta(hours=1)},
        deps.settings.signing_key,
        algorithm="HS256",
    )
    response = client.get("/api/tasks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.get_json()["message"] == "invalid token"


@pytest.mark.parametrize("bad", ["a\x00b", "a\x07b", "\x1b[31mred"])
def test_control_characters_in_json_fields_are_a_400(
    client: FlaskClient, dan: ApiClient, bad: str
) -> None:
    signup = {"username": bad, "email": "x@example.com", "password1": "abcdefgh",
              "password2": "abcdefgh"}  # fmt: skip
    login = {"username": bad, "password": "correct horse battery"}
    for route, body in (("/api/auth/signup", signup), ("/api/auth/login", login),
                        ("/api/auth/login", {"username": "dan", "password": bad})):  # fmt: skip
        response = client.post(route, json=body)
        assert response.status_code == 400, (route, body, response.get_json())
        assert "control characters" in response.get_json()["message"]
    upload = client.post("/api/uploads", json={"fileName": bad, "newFormat": "mp3"},
                         headers=dan.headers)  # fmt: skip
    assert upload.status_code == 400


@pytest.mark.parametrize("name", ["a%00b.mp3", "%00", "song%07.mp3"])
def test_file_names_with_control_characters_are_not_found(dan: ApiClient, name: str) -> None:
    response = dan.get(f"/api/files/{name}")
    assert response.status_code == 404, response.get_json()


@pytest.mark.parametrize("upload_id", ["a%00b", "0" * 31 + "%00", "not-an-upload-id"])
def test_malformed_upload_ids_are_not_found(dan: ApiClient, upload_id: str) -> None:
    response = dan.get(f"/api/uploads/{upload_id}")
    assert response.status_code == 404, response.get_json()
