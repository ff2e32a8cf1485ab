"""What the second hostile-user run found (issue 18), through the API on SQLite and
PostgreSQL with real ffmpeg: options that cannot make audio, outputs kept until they are
replaced, quotas that count outputs and convert-again, a direct-upload URL claimed by its
first PUT, batches deleted under an upload."""

from __future__ import annotations

import io
import os
import re
import struct
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from audioconv.config import Settings
from audioconv.domain.throttle import LOGIN_ACCOUNT_FROM_ADDRESS
from audioconv.entrypoints.api import create_app
from audioconv.services import batches, conversion, recovery
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.support.api import ApiClient, wait_for
from tests.support.audio import make_audio, probe
from tests.support.blobs import stored_files
from tests.unit.fakes import Clock, FakeBus


@pytest.fixture(scope="module")
def two_seconds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_audio(tmp_path_factory.mktemp("audio") / "two.mp3", 2.0, ("-c:a", "libmp3lame"))


@pytest.fixture
def mo(client: FlaskClient) -> ApiClient:
    return ApiClient(client, "mo")


def _message(response: Any) -> str:
    body = response.get_json()
    assert isinstance(body, dict) and isinstance(body.get("message"), str), response.data[:300]
    return str(body["message"])


def _put_task(api: ApiClient, task_id: int, **body: Any) -> Any:
    return api.client.put(f"/api/tasks/{task_id}", json=body, headers=api.headers)


# --- 1. options that cannot produce audio are refused, naming the option --------------

HOPELESS = [
    ({"start": "1.999999"}, "start"),  # leaves 1 microsecond of a 2 s file
    ({"start": "1e-320", "end": "1e-310"}, "start"),  # denormals
    ({"start": "1.0", "end": "1.0000000000000002"}, "start and end"),
    ({"start": "2.0"}, "start"),  # at the end
    ({"end": "0"}, "end"),
    ({"fadeIn": "1e-320"}, "fadeIn"),
]


@pytest.mark.parametrize(("options", "named"), HOPELESS)
def test_options_that_make_no_audio_are_a_400_on_upload(
    mo: ApiClient, two_seconds: Path, options: dict[str, str], named: str
) -> None:
    response = mo.upload(two_seconds, "mp3", **options)
    assert response.status_code == 400, response.get_json()
    message = _message(response)
    assert named in message and "not an audio file" not in message
    assert mo.get("/api/tasks").get_json() == []


def test_options_that_make_no_audio_are_a_400_on_batches_and_direct_uploads(
    mo: ApiClient, two_seconds: Path
) -> None:
    with two_seconds.open("rb") as one, two_seconds.open("rb") as two:
        data = {"fileName": [(one, "a.mp3"), (two, "b.mp3")], "newFormat": "mp3",
                "start": "1.0", "end": "1.0000000000000002"}  # fmt: skip
        batch = mo.client.post("/api/tasks", data=data, headers=mo.headers,
                               content_type="multipart/form-data")  # fmt: skip
    assert batch.status_code == 400 and "start and end" in _message(batch)
    direct = mo.client.post(
        "/api/uploads", headers=mo.headers,
        json={"fileName": "a.mp3", "newFormat": "mp3", "start": 1e-320, "end": 1e-310},
    )  # fmt: skip
    assert direct.status_code == 400 and "start" in _message(direct)


def test_a_retarget_that_cannot_make_audio_is_a_400_and_keeps_the_output(
    mo: ApiClient, two_seconds: Path
) -> None:
    task_id = mo.upload(two_seconds, "mp3").get_json()["id"]
    assert mo.wait(task_id)["status"] == "processed"
    refused = _put_task(mo, task_id, newFormat="mp3", start=1.999999)
    assert refused.status_code == 400 and "start" in _message(refused)
    task = mo.get(f"/api/tasks/{task_id}").get_json()
    assert task["status"] == "processed" and task["revision"] == 1
    assert mo.get(task["links"]["converted"]).status_code == 200


# --- 1. a processed task keeps its output until a new one replaces it ------------------


def test_a_failed_convert_again_keeps_the_previous_output(
    deps: Dependencies, mo: ApiClient, two_seconds: Path, tmp_path: Path
) -> None:
    task_id = mo.upload(two_seconds, "mp3").get_json()["id"]
    first = mo.wait(task_id)
    assert first["status"] == "processed" and first["keptOutput"] is None
    deps.bus = FakeBus()  # nothing converts until this test says so
    changed = _put_task(mo, task_id, newFormat="flac")
    assert changed.status_code == 200
    task = changed.get_json()
    # While the new output is being made, the old one is still there to download.
    assert task["status"] == "uploaded" and task["revision"] == 2
    assert task["keptOutput"]["format"] == "mp3"
    assert task["keptOutput"]["fileName"] == "two.mp3"
    _downloads_an_mp3(mo, task["links"]["converted"], tmp_path / "kept.mp3")

    deps.settings.max_output_bytes = 1000  # this conversion now fails before it writes
    conversion.convert(deps, TaskRef(task_id, 2))
    failed = mo.get(f"/api/tasks/{task_id}").get_json()
    assert failed["status"] == "failed" and "limit for one output" in failed["error"]
    assert failed["keptOutput"]["format"] == "mp3"
    _downloads_an_mp3(mo, failed["links"]["converted"], tmp_path / "still.mp3")

    deps.settings.max_output_bytes = 4 * 1024**3
    assert _put_task(mo, task_id, newFormat="ogg").status_code == 200
    conversion.convert(deps, TaskRef(task_id, 3))
    done = mo.get(f"/api/tasks/{task_id}").get_json()
    assert done["status"] == "processed" and done["keptOutput"] is None
    converted = mo.get(done["links"]["converted"])
    assert converted.status_code == 200
    (tmp_path / "new.ogg").write_bytes(converted.data)
    assert probe(tmp_path / "new.ogg")["streams"][0]["codec_name"] == "vorbis"
    # The replaced mp3 is gone from the store; only the input and the ogg are left.
    names = sorted(p.suffix for p in stored_files(deps))
    assert names == [".mp3", ".ogg"]


def _downloads_an_mp3(api: ApiClient, url: str, path: Path) -> None:
    response = api.get(url)
    assert response.status_code == 200
    assert response.mimetype == "audio/mpeg"
    assert "two.mp3" in response.headers["Content-Disposition"]
    path.write_bytes(response.data)
    assert probe(path)["streams"][0]["codec_name"] == "mp3"


# --- 5. convert-again counts against the tasks-in-flight quota -------------------------


def test_convert_again_keeps_the_tasks_in_flight_quota(
    settings: Settings, deps: Dependencies, mo: ApiClient, two_seconds: Path
) -> None:
    ids = [mo.upload(two_seconds, "mp3").get_json()["id"] for _ in range(2)]
    for task_id in ids:
        assert mo.wait(task_id)["status"] == "processed"
    settings.quota_tasks_in_flight = 1
    deps.bus = FakeBus()  # what is asked for stays in flight
    assert _put_task(mo, ids[0], newFormat="ogg").status_code == 200
    refused = _put_task(mo, ids[1], newFormat="ogg")
    assert refused.status_code == 429 and "the limit is 1" in _message(refused)
    # Changing the one already in flight again is no new task in flight.
    assert _put_task(mo, ids[0], newFormat="flac").status_code == 200


# --- 6. the stored-bytes quota counts outputs, before they are written -----------------


def test_the_storage_quota_counts_the_outputs_to_come(
    settings: Settings, deps: Dependencies, mo: ApiClient, tmp_path: Path
) -> None:
    silence = make_audio(tmp_path / "quiet.flac", 4.0, rate=8000, channels=1)
    assert silence.stat().st_size < 50_000
    deps.bus = FakeBus()  # nothing converts: the outputs are still to come
    settings.quota_stored_bytes = 2_000_000
    # Each as 48 kHz stereo wav: up to ~840 kB, though its input is a few kB.
    options = {"sampleRate": "48000", "channels": "2"}
    answers = [mo.upload(silence, "wav", **options) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 413]
    assert "storage quota of 2000000 bytes" in _message(answers[2])

    # A conversion that would outgrow what is left fails before writing anything.
    first = answers[0].get_json()["id"]
    settings.quota_stored_bytes = 1_000_000
    conversion.convert(deps, TaskRef(first, 1))
    task = mo.get(f"/api/tasks/{first}").get_json()
    assert task["status"] == "failed" and "storage quota of 1000000 bytes" in task["error"]
    assert not [p for p in stored_files(deps) if p.suffix == ".wav"]


# --- 7. one direct-upload URL, one PUT at a time, spooled on the data disk -------------


class _HeldBody(io.BytesIO):
    """A request body that sends its first chunk, then waits until released."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sent = threading.Event()
        self.release = threading.Event()

    def read(self, size: int | None = -1) -> bytes:
        self._hold()
        return super().read(4096 if size is None or size < 0 else min(size, 4096))

    def readinto(self, buffer: Any) -> int:
        self._hold()
        return super().readinto(memoryview(buffer)[:4096])

    def _hold(self) -> None:
        if self.tell():
            self.sent.set()
            assert self.release.wait(30)


def test_a_direct_upload_url_is_claimed_by_its_first_put(
    deps: Dependencies, mo: ApiClient, two_seconds: Path
) -> None:
    body = {"fileName": "two.mp3", "newFormat": "ogg"}
    ticket = mo.client.post("/api/uploads", headers=mo.headers, json=body).get_json()
    url = urlsplit(ticket["url"])
    target = f"{url.path}?{url.query}"
    data = two_seconds.read_bytes()
    held = _HeldBody(data)
    app = create_app(deps)
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(app.test_client().put(
        target, input_stream=held, headers={
            **ticket["headers"], "Content-Length": str(len(data))})))  # fmt: skip
    first.start()
    try:
        assert held.sent.wait(30)
        # The body arrives on the data disk, not in /tmp.
        spool = deps.settings.resolved_work_dir / "incoming"
        upload_id = ticket["uploadId"]
        claim, body = sorted(p.name for p in spool.iterdir())
        assert claim == f"claim-{upload_id}"
        assert body.startswith(f"direct-{os.getpid()}-{upload_id}-")
        second = mo.client.put(target, data=data, headers=ticket["headers"])
        assert second.status_code == 409, second.get_json()
        assert "being used" in _message(second)
    finally:
        held.release.set()
        first.join(30)
    assert answers[0].status_code == 200
    assert not list(spool.iterdir())
    again = mo.client.put(target, data=data, headers=ticket["headers"])
    assert again.status_code == 409 and "already been used" in _message(again)


# --- 12. batches deleted under an upload -----------------------------------------------


def test_a_batch_deleted_during_a_multi_file_upload_is_a_404(
    deps: Dependencies, mo: ApiClient, two_seconds: Path
) -> None:
    batch_id = mo.client.post("/api/batches", json={}, headers=mo.headers).get_json()["id"]
    real_probe = deps.transcoder.probe

    def probe_then_delete(path: Path, limits: bool = True) -> Any:
        found = real_probe(path, limits)
        batches.delete_batch(deps, mo.user_id, batch_id)  # while the upload goes on
        return found

    deps.transcoder.probe = probe_then_delete  # type: ignore[method-assign]
    with two_seconds.open("rb") as one, two_seconds.open("rb") as two:
        data = {"fileName": [(one, "a.mp3"), (two, "b.mp3")], "newFormat": "ogg",
                "batch": str(batch_id)}  # fmt: skip
        response = mo.client.post("/api/tasks", data=data, headers=mo.headers,
                                  content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 404, response.get_json()
    assert f"no batch {batch_id}" in _message(response)
    assert mo.get("/api/tasks").get_json() == []


def test_a_direct_upload_into_a_deleted_batch_is_refused_and_says_so(
    mo: ApiClient, two_seconds: Path
) -> None:
    batch_id = mo.client.post("/api/batches", json={}, headers=mo.headers).get_json()["id"]
    ticket = mo.client.post(
        "/api/uploads", headers=mo.headers,
        json={"fileName": "two.mp3", "newFormat": "ogg", "batch": batch_id},
    ).get_json()  # fmt: skip
    assert mo.client.delete(f"/api/batches/{batch_id}", headers=mo.headers).status_code == 204
    url = urlsplit(ticket["url"])
    put = mo.client.put(f"{url.path}?{url.query}", data=two_seconds.read_bytes(),
                        headers=ticket["headers"])  # fmt: skip
    assert put.status_code == 404 and "deleted" in _message(put)
    status = mo.get(f"/api/uploads/{ticket['uploadId']}")
    assert status.status_code == 200  # no longer "pending" for ever
    assert status.get_json()["status"] == "failed"
    assert "deleted" in status.get_json()["error"]


# --- 2. concurrent guesses are counted before argon2, one at a time ---------------------


def test_concurrent_wrong_passwords_get_no_more_tries_than_the_rule(
    deps: Dependencies, client: FlaskClient
) -> None:
    ApiClient(client, "alice")
    app = create_app(deps)

    def guess(i: int) -> int:
        response = app.test_client().post(
            "/api/auth/login", json={"username": "alice", "password": f"guess-{i}"},
            environ_base={"REMOTE_ADDR": "10.0.0.9"},
        )  # fmt: skip
        return int(response.status_code)

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(guess, range(20)))
    assert statuses.count(401) <= LOGIN_ACCOUNT_FROM_ADDRESS.free, statuses
    assert set(statuses) == {401, 429}
    # The owner, from elsewhere, still logs in; and that gives the count back there.
    right = {"username": "alice", "password": "correct horse battery"}
    owner = client.post("/api/auth/login", environ_base={"REMOTE_ADDR": "10.0.0.10"}, json=right)
    assert owner.status_code == 200


# --- 18. throttle counts of unknown usernames do not pile up ----------------------------


def test_throttle_counts_expire_at_the_sweep(deps: Dependencies, client: FlaskClient) -> None:
    clock = Clock()
    deps.clock = clock
    app = create_app(deps).test_client()
    for i in range(15):  # usernames nobody has
        app.post("/api/auth/login", json={"username": f"nobody{i}", "password": "x" * 8})
    with deps.uow(readonly=True) as uow:
        assert len(uow.throttles.many([f"login-user:nobody{i}" for i in range(15)])) == 15
    clock.advance(1800)
    recovery.sweep(deps)
    with deps.uow(readonly=True) as uow:  # half an hour: still counted
        assert len(uow.throttles.many([f"login-user:nobody{i}" for i in range(15)])) == 15
    clock.advance(1801 + 15 * 60)  # quiet past every window and block
    recovery.sweep(deps)
    with deps.uow(readonly=True) as uow:
        assert uow.throttles.many([f"login-user:nobody{i}" for i in range(15)]) == []
        assert uow.throttles.many(["login-ip:127.0.0.1"]) == []


# --- 3. webhook addresses that carry a forbidden IPv4 address --------------------------


@pytest.mark.parametrize(
    "url",
    ["http://[2002:7f00:1::]/", "http://[2002:a9fe:a9fe::]/", "http://[fec0::1]/",
     "http://[64:ff9b::a9fe:a9fe]/"],
)  # fmt: skip
def test_webhooks_to_addresses_inside_6to4_nat64_or_site_local_are_refused(
    mo: ApiClient, url: str
) -> None:
    response = mo.client.put("/api/me", json={"webhookUrl": url}, headers=mo.headers)
    assert response.status_code == 400, response.get_json()
    assert "not allowed" in _message(response)
    assert mo.get("/api/me").get_json()["webhookUrl"] is None


# --- 13. invisible code points make no second spelling of a name -----------------------


@pytest.mark.parametrize(
    "twin", ["alice1\u034f", "alice1\ufe0f", "bob1\ufe0e", "bob1\U000e0100", "al\u00adice1"]
)
def test_default_ignorables_and_variation_selectors_are_refused_in_usernames(
    client: FlaskClient, twin: str
) -> None:
    body = {"username": twin, "email": "twin@example.com",
            "password1": "correct horse battery", "password2": "correct horse battery"}  # fmt: skip
    response = client.post("/api/auth/signup", json=body)
    assert response.status_code == 400, response.get_json()
    assert "invisible" in _message(response)


# --- 16. one value per field, plain ASCII numbers, a strict token subject --------------


def test_a_field_given_twice_is_a_400_not_joined(mo: ApiClient, two_seconds: Path) -> None:
    with two_seconds.open("rb") as fh:
        form = MultiDict([("fileName", (fh, "two.mp3")), ("newFormat", "mp"), ("newFormat", "3")])
        joined = mo.client.post("/api/tasks", data=form, headers=mo.headers,
                                content_type="multipart/form-data")  # fmt: skip
    assert joined.status_code == 400 and "'newFormat' is given 2 times" in _message(joined)
    raw = mo.client.post("/api/tasks?fileName=a.mp3&newFormat=ogg&newFormat=mp3",
                         data=two_seconds.read_bytes(), headers=mo.headers,
                         content_type="application/octet-stream")  # fmt: skip
    assert raw.status_code == 400 and "given 2 times" in _message(raw)
    twice = '{"fileName": "a.mp3", "newFormat": "x", "newFormat": "mp3"}'
    json_twice = mo.client.post("/api/uploads", headers=mo.headers, data=twice,
                                content_type="application/json")  # fmt: skip
    assert json_twice.status_code == 400 and "newFormat" in _message(json_twice)
    assert mo.get("/api/tasks").get_json() == []


@pytest.mark.parametrize("value", ["1_0", "\u0661", " 1 ", "1_0.5"])
def test_numbers_take_plain_ascii_digits_only(mo: ApiClient, two_seconds: Path, value: str) -> None:
    response = mo.upload(two_seconds, "mp3", fadeIn=value)
    assert response.status_code == 400, response.get_json()
    assert "fadeIn" in _message(response) and "ASCII digits" in _message(response)


_ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x660 + d) for d in range(10)))


@pytest.mark.parametrize(
    "spell",
    [lambda n: n.translate(_ARABIC_INDIC), lambda n: f" {n} ", lambda n: f"0_{n}",
     lambda n: f"0{n}", lambda n: f"+{n}"],
)  # fmt: skip
def test_a_token_subject_in_another_spelling_is_refused(
    deps: Dependencies, mo: ApiClient, spell: Any
) -> None:
    now = datetime.now(UTC)
    claims = {"sub": spell(str(mo.user_id)), "iat": now, "exp": now + timedelta(minutes=5)}
    assert int(claims["sub"]) == mo.user_id  # what int() used to make of it
    token = jwt.encode(claims, deps.settings.signing_key, algorithm="HS256")
    response = mo.client.get("/api/tasks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and _message(response) == "invalid token"


# --- 14. ffmpeg's own words never reach a user ------------------------------------------


def _wav_header(channels: int, data: bytes) -> bytes:
    rate, bits = 8000, 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * bits // 8,
                      channels * bits // 8, bits)  # fmt: skip
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_a_wav_with_65535_channels_gets_our_words_not_ffmpegs(
    mo: ApiClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "many.wav"
    path.write_bytes(_wav_header(65535, b"\0" * 65535 * 4))
    response = mo.upload(path, "mp3")
    assert response.status_code == 415, response.get_json()
    message = _message(response)
    assert message == (
        "not an audio file we can read (the file declares a channel layout we cannot decode)"
    )
    assert "0x" not in message and "pcm_" not in message and "@" not in message
    assert "Too many channels" in caplog.text  # the operator still sees what ffmpeg said


# --- 10. a batch's ZIP is sent whole while its tasks are converted again ---------------


def test_a_zip_stays_whole_when_a_task_is_converted_again_during_the_download(
    deps: Dependencies, mo: ApiClient, two_seconds: Path
) -> None:
    with two_seconds.open("rb") as one, two_seconds.open("rb") as two:
        data = {"fileName": [(one, "a.mp3"), (two, "b.mp3")], "newFormat": "wav"}
        batch = mo.client.post("/api/tasks", data=data, headers=mo.headers,
                               content_type="multipart/form-data").get_json()  # fmt: skip
    ids = [task["id"] for task in batch["tasks"]]
    for task_id in ids:
        assert mo.wait(task_id)["status"] == "processed"
    response = mo.client.get(f"/api/batches/{batch['id']}/zip", headers=mo.headers,
                             buffered=False)  # fmt: skip
    assert response.status_code == 200
    chunks = iter(response.response)
    received = next(chunks)  # the download has begun
    for task_id in ids:  # both outputs replaced (and deleted) while it goes on
        assert _put_task(mo, task_id, newFormat="flac").status_code == 200
        fetch = lambda: mo.get(f"/api/tasks/{task_id}").get_json()  # noqa: B023, E731
        assert wait_for(fetch, revision=2)["status"] == "processed"
    received += b"".join(chunks)
    response.close()
    assert len(received) == int(response.headers["Content-Length"])
    with zipfile.ZipFile(io.BytesIO(received)) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == ["a.wav", "b.wav", "manifest.json", "playlist.m3u8"]


# --- 15. webhook secrets sealed at rest --------------------------------------------------


def test_webhook_secrets_are_stored_sealed(deps: Dependencies, mo: ApiClient) -> None:
    shown = mo.get("/api/me/webhook-secret").get_json()["secret"]
    assert shown.startswith("whsec_")
    with deps.uow(readonly=True) as uow:
        stored = uow.users.get(mo.user_id)
        assert stored is not None and stored.webhook_secret is not None
    assert shown not in stored.webhook_secret and not stored.webhook_secret.startswith("whsec_")
    assert mo.get("/api/me/webhook-secret").get_json()["secret"] == shown  # opens again


def test_migration_0011_seals_the_secrets_stored_in_plain_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command
    from sqlalchemy import create_engine

    from audioconv import migrate
    from audioconv.domain.webhook_events import open_secret

    key = "a-signing-key-for-this-test-that-is-long-enough"
    monkeypatch.setenv("AUDIOCONV_SECRET_KEY", key)
    monkeypatch.setenv("AUDIOCONV_DATA_DIR", str(tmp_path / "data"))
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    cfg = migrate.alembic_config()
    plain = "whsec_" + "x" * 43
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0010")
        conn.exec_driver_sql(
            "INSERT INTO users (username, email, password_hash, created_at, webhook_secret) "
            f"VALUES ('u', 'u@example.com', 'x', '2026-01-01', '{plain}')"
        )
        command.upgrade(cfg, "0011")
        sealed = conn.exec_driver_sql("SELECT webhook_secret FROM users").scalar_one()
    engine.dispose()
    assert sealed != plain and "x" * 43 not in sealed
    assert open_secret(sealed, key) == plain
    assert open_secret(sealed, "another key of the same length, but not ours!!") is None


# --- 9. malformed multipart bodies are a 400 ---------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary=", 'multipart/form-data; boundary="'],
)
def test_multipart_without_a_boundary_is_a_400(mo: ApiClient, content_type: str) -> None:
    response = mo.client.post("/api/tasks", data=b"--x\r\n",
                              headers={**mo.headers, "Content-Type": content_type})  # fmt: skip
    assert response.status_code == 400 and "boundary" in _message(response)


def test_a_file_name_that_is_not_utf8_is_a_400(deps: Dependencies, mo: ApiClient) -> None:
    part = b'--b\r\nContent-Disposition: form-data; name="fileName"; filename="\xff.mp3"\r\n\r\n'
    rest = b'abc\r\n--b\r\nContent-Disposition: form-data; name="newFormat"\r\n\r\nmp3\r\n--b--\r\n'
    headers = {**mo.headers, "Content-Type": "multipart/form-data; boundary=b"}
    response = mo.client.post("/api/tasks", data=part + rest, headers=headers)
    assert response.status_code == 400 and "not UTF-8" in _message(response)
    assert not list((deps.settings.resolved_work_dir / "incoming").glob("upload-*"))


# --- 17. /api lists every route; nosniff; 405 with Allow --------------------------------


def test_the_api_index_lists_every_route(client: FlaskClient) -> None:
    listed = client.get("/api").get_json()["endpoints"]
    app = client.application
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"<\1>", rule.rule)
        line = next((e for e in listed if e.split(" ", 1)[1] == path), None)
        assert line is not None, f"{path} is not listed"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method in line.split(" ", 1)[0].split("|"), line


def test_every_answer_says_nosniff_and_a_wrong_method_says_allow(mo: ApiClient) -> None:
    for response in (mo.get("/api/tasks"), mo.get("/api/tasks/999"), mo.client.get("/"),
                     mo.client.get("/nowhere"), mo.client.patch("/api/tasks")):  # fmt: skip
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    wrong = mo.client.patch("/api/tasks", headers=mo.headers)
    assert wrong.status_code == 405
    assert set(wrong.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
