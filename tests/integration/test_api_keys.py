"""API keys through the API (issue 23), on SQLite and PostgreSQL: made and shown once,
kept only as a keyed hash, listed with their last use (written at most once a
minute), scoped (read cannot upload or delete), closed to the account's own business,
throttled on failure like log-ins, and revoked at once on every process."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select

from audioconv import bootstrap
from audioconv.adapters import orm
from audioconv.domain.api_key import KEY_FROM_ADDRESS
from audioconv.domain.model import utcnow
from audioconv.entrypoints.api import create_app
from audioconv.entrypoints.key_scopes import KEY_SCOPES
from audioconv.services.dependencies import Dependencies
from tests.support.api import PASSWORD, ApiClient
from tests.support.audio import make_audio, probe


@pytest.fixture
def song(tmp_path: Path) -> Path:
    return make_audio(tmp_path / "song.wav", 0.5)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _make_key(user: ApiClient, scopes: list[str], name: str = "nightly") -> dict[str, Any]:
    response = user.client.post(
        "/api/keys", json={"name": name, "scopes": scopes}, headers=user.headers
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def _upload(client: FlaskClient, headers: dict[str, str], path: Path, fmt: str) -> Any:
    with path.open("rb") as fh:
        return client.post(
            "/api/tasks",
            data={"fileName": (fh, path.name), "newFormat": fmt},
            headers=headers,
            content_type="multipart/form-data",
        )


def test_a_key_is_shown_once_and_stored_only_as_a_keyed_hash(
    client: FlaskClient, database_url: str
) -> None:
    alice = ApiClient(client, "alice")
    made = _make_key(alice, ["convert"], "  nightly job ")
    key = made["key"]
    assert key.startswith("ak_live_") and len(key) == 8 + 64
    assert made["prefix"] == key[:16] and made["name"] == "nightly job"
    assert made["scopes"] == ["convert"] and made["lastUsedAt"] is None
    listed = alice.get("/api/keys").get_json()
    assert listed == [{k: v for k, v in made.items() if k != "key"}]
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = [tuple(map(str, row)) for row in conn.execute(select(orm.api_keys))]
    engine.dispose()
    assert len(rows) == 1
    assert not any(key in value or key[16:] in value for value in rows[0])  # not even a part


def test_a_convert_key_uploads_reads_downloads_and_deletes_its_users_tasks(
    client: FlaskClient, song: Path, tmp_path: Path
) -> None:
    alice, bob = ApiClient(client, "alice"), ApiClient(client, "bob")
    key = _bearer(_make_key(alice, ["convert"])["key"])
    created = _upload(client, key, song, "mp3")
    assert created.status_code == 201, created.get_json()
    task_id = created.get_json()["id"]
    done = alice.wait(task_id)
    assert done["status"] == "processed", done
    assert [t["id"] for t in client.get("/api/tasks", headers=key).get_json()] == [task_id]
    converted = client.get(f"/api/tasks/{task_id}/converted", headers=key)
    assert converted.status_code == 200
    out = tmp_path / "out.mp3"
    out.write_bytes(converted.data)
    assert probe(out)["streams"][0]["codec_name"] == "mp3"
    bobs = bob.upload(song, "wav").get_json()["id"]
    assert client.get(f"/api/tasks/{bobs}", headers=key).status_code == 404  # only alice's
    assert client.delete(f"/api/tasks/{bobs}", headers=key).status_code == 404
    assert client.delete(f"/api/tasks/{task_id}", headers=key).status_code == 204
    assert alice.get(f"/api/tasks/{task_id}").status_code == 404


def test_a_read_key_reads_but_cannot_upload_convert_again_or_delete(
    client: FlaskClient, song: Path
) -> None:
    alice = ApiClient(client, "alice")
    task_id = alice.upload(song, "mp3").get_json()["id"]
    alice.wait(task_id)
    key = _bearer(_make_key(alice, ["read"])["key"])
    assert client.get(f"/api/tasks/{task_id}", headers=key).get_json()["status"] == "processed"
    assert client.get(f"/api/tasks/{task_id}/converted", headers=key).status_code == 200
    assert client.get("/api/me", headers=key).get_json()["username"] == "alice"
    refused = _upload(client, key, song, "mp3")
    assert refused.status_code == 403
    assert "'convert'" in refused.get_json()["message"]
    again = client.put(f"/api/tasks/{task_id}", json={"newFormat": "wav"}, headers=key)
    assert again.status_code == 403
    assert client.delete(f"/api/tasks/{task_id}", headers=key).status_code == 403
    assert len(alice.get("/api/tasks").get_json()) == 1  # nothing made, nothing lost
    assert alice.get(f"/api/tasks/{task_id}").get_json()["revision"] == 1


def test_a_key_cannot_make_keys_or_touch_the_password_or_the_account(
    client: FlaskClient,
) -> None:
    alice = ApiClient(client, "alice")
    key = _bearer(_make_key(alice, ["convert", "read"])["key"])
    attempts = [
        client.post("/api/keys", json={"name": "more", "scopes": ["convert"]}, headers=key),
        client.get("/api/keys", headers=key),
        client.delete("/api/keys/1", headers=key),
        client.put("/api/me/password", json={"oldPassword": PASSWORD,
                                             "newPassword": "another long one"}, headers=key),
        client.delete("/api/me", json={"password": PASSWORD}, headers=key),
        client.post("/api/auth/logout", headers=key),
        client.put("/api/me", json={"emailNotifications": False}, headers=key),
        client.post("/api/presets", json={"name": "p", "newFormat": "mp3"}, headers=key),
    ]  # fmt: skip
    for response in attempts:
        assert response.status_code == 403, response.get_json()
        assert "log-in token" in response.get_json()["message"]
    assert len(alice.get("/api/keys").get_json()) == 1
    assert alice.get("/api/me").get_json()["emailNotifications"] is True
    assert client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD}
                       ).status_code == 200  # fmt: skip


def test_a_revoked_key_fails_at_once_on_every_process(deps: Dependencies) -> None:
    """Two API processes over one database: revoked through one, refused by the other
    on its very next request (each looks the key up: no cache to go stale)."""
    one = create_app(deps).test_client()
    other_deps = bootstrap.build(deps.settings)
    try:
        other = create_app(other_deps).test_client()
        alice = ApiClient(one, "alice")
        made = _make_key(alice, ["read"])
        key = _bearer(made["key"])
        assert other.get("/api/tasks", headers=key).status_code == 200
        assert one.delete(f"/api/keys/{made['id']}", headers=alice.headers).status_code == 204
        refused = other.get("/api/tasks", headers=key)
        assert refused.status_code == 401
        assert refused.get_json()["message"] == "invalid or revoked API key"
        assert one.delete(f"/api/keys/{made['id']}", headers=alice.headers).status_code == 404
        assert alice.get("/api/keys").get_json() == []
    finally:
        other_deps.close()


def test_someone_elses_key_cannot_be_listed_or_revoked(client: FlaskClient) -> None:
    alice, bob = ApiClient(client, "alice"), ApiClient(client, "bob")
    made = _make_key(alice, ["read"])
    assert bob.get("/api/keys").get_json() == []
    assert client.delete(f"/api/keys/{made['id']}", headers=bob.headers).status_code == 404
    assert client.get("/api/tasks", headers=_bearer(made["key"])).status_code == 200


def test_last_use_is_written_at_most_once_a_minute(deps: Dependencies) -> None:
    now = [utcnow()]
    client = create_app(replace(deps, clock=lambda: now[0])).test_client()
    alice = ApiClient(client, "alice")
    key = _bearer(_make_key(alice, ["read"])["key"])

    def last_use() -> datetime:
        [listed] = alice.get("/api/keys").get_json()
        return datetime.fromisoformat(listed["lastUsedAt"])

    first = now[0]
    assert client.get("/api/tasks", headers=key).status_code == 200
    assert last_use() == first
    now[0] = first + timedelta(seconds=50)
    assert client.get("/api/tasks", headers=key).status_code == 200
    assert last_use() == first  # not a write per request
    now[0] = first + timedelta(seconds=61)
    assert client.get("/api/tasks", headers=key).status_code == 200
    assert last_use() == now[0]


def test_wrong_keys_are_throttled_per_address_like_log_ins(client: FlaskClient) -> None:
    alice = ApiClient(client, "alice")
    good = _bearer(_make_key(alice, ["read"])["key"])
    guesser = {"REMOTE_ADDR": "203.0.113.9"}
    wrong = _bearer("ak_live_" + "0" * 64)
    for _ in range(KEY_FROM_ADDRESS.free - 1):
        response = client.get("/api/tasks", headers=wrong, environ_base=guesser)
        assert response.status_code == 401
    malformed = client.get("/api/tasks", headers=_bearer("ak_nonsense"), environ_base=guesser)
    assert malformed.status_code == 401  # the last free one
    blocked = client.get("/api/tasks", headers=good, environ_base=guesser)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert client.get("/api/tasks", headers=good).status_code == 200  # another address


_NO_NAME = "missing field 'name': what the key is for (e.g. 'nightly job')"
_NOT_A_LIST = "field 'scopes' must be a non-empty list of 'read', 'convert'"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"scopes": ["read"]}, _NO_NAME),
        ({"name": "x", "scopes": []}, _NOT_A_LIST),
        ({"name": "x", "scopes": ["admin"]}, "unknown scope 'admin': the scopes are "
                                             "'read', 'convert'"),
        ({"name": "x"}, _NOT_A_LIST),
        ({"name": "x" * 101, "scopes": ["read"]}, "field 'name' must be at most 100 characters"),
        ({"name": "a\x07b", "scopes": ["read"]}, "field 'name' must not contain control "
                                                "characters"),
        ({"name": 3, "scopes": ["read"]}, _NO_NAME),
        ({"name": " ", "scopes": "read"}, _NO_NAME),
    ],
)  # fmt: skip
def test_bad_key_requests_are_400_and_make_nothing(
    client: FlaskClient, body: dict[str, Any], message: str
) -> None:
    alice = ApiClient(client, "alice")
    response = client.post("/api/keys", json=body, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json()["message"] == message
    assert alice.get("/api/keys").get_json() == []


def test_every_route_is_either_open_to_keys_by_scope_or_closed_to_them(
    client: FlaskClient,
) -> None:
    """The scope table names only real routes, and no login-only route slipped in."""
    app = client.application
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(KEY_SCOPES) <= endpoints
    for never in (
        "create_api_key",
        "list_api_keys",
        "revoke_api_key",
        "change_password",
        "delete_account",
        "logout",
        "put_profile",
        "rotate_webhook_secret",
    ):
        assert never in endpoints and never not in KEY_SCOPES  # fmt: skip


def test_deleting_the_account_takes_its_keys_and_presets(
    client: FlaskClient, database_url: str
) -> None:
    alice = ApiClient(client, "alice")
    made = _make_key(alice, ["convert"])
    preset = {"name": "p", "newFormat": "mp3"}
    assert client.post("/api/presets", json=preset, headers=alice.headers).status_code == 201
    gone = client.delete("/api/me", json={"password": PASSWORD}, headers=alice.headers)
    assert gone.status_code == 200, gone.get_json()
    assert client.get("/api/tasks", headers=_bearer(made["key"])).status_code == 401
    engine = create_engine(database_url)
    with engine.connect() as conn:
        left = [conn.execute(select(t)).all() for t in (orm.api_keys, orm.presets)]
    engine.dispose()
    assert left == [[], []]
