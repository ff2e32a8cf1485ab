"""What a hostile user tried, on SQLite and PostgreSQL: reused ids, stale attempts,
replayed upload URLs, password guessing, sign-up bursts and quotas."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from argon2 import PasswordHasher
from flask.testing import FlaskClient

from audioconv import bootstrap
from audioconv.config import Settings
from audioconv.domain.errors import ConversionFailed
from audioconv.domain.job import ConversionJob, ConversionResult
from audioconv.domain.model import Task, TaskStatus, User
from audioconv.entrypoints.api import create_app
from audioconv.ports import Probe, ProgressCallback, Transcoder
from audioconv.services import conversion, direct_uploads, tasks
from audioconv.services.conversion import LeaseLost
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.support.api import ApiClient
from tests.support.audio import make_audio
from tests.support.blobs import stored_files
from tests.unit.fakes import Clock, FakeBus

PASSWORD = "correct horse battery"


def _user(deps: Dependencies, name: str) -> int:
    with deps.uow() as uow:
        user = User(username=name, email=f"{name}@example.com", password_hash="x")
        uow.users.add(user)
        uow.commit()
    assert user.id is not None
    return user.id


def _blob_keys(deps: Dependencies) -> set[str]:
    root = deps.settings.data_dir / "blobs"
    return {str(p.relative_to(root)) for p in stored_files(deps)}


# --- ids and fences ----------------------------------------------------------------------


def test_ids_of_deleted_rows_are_never_given_out_again(deps: Dependencies, tmp_path: Path) -> None:
    deps.bus = FakeBus()
    song = make_audio(tmp_path / "a.mp3", 0.5, ("-c:a", "libmp3lame"))
    alice = _user(deps, "alice")
    first = tasks.create_task(deps, alice, song, "a.mp3", "aac")
    last = tasks.create_task(deps, alice, song, "b.mp3", "aac")
    tasks.delete_task(deps, alice, last.id or 0)
    again = tasks.create_task(deps, alice, song, "c.mp3", "aac")
    assert (again.id or 0) > (last.id or 0) > (first.id or 0)

    with deps.uow() as uow:
        victim = uow.users.get(_user(deps, "victim"))
        assert victim is not None
        uow.users.session.delete(victim)  # type: ignore[attr-defined]
        uow.commit()
    assert _user(deps, "newcomer") > (victim.id or 0)


class _GatedTranscoder:
    """The real transcoder, but each conversion waits for ``go``: before ffmpeg starts
    (``while_running`` false), or at ffmpeg's first progress line, its input open."""

    def __init__(self, real: Transcoder, while_running: bool) -> None:
        self.real = real
        self.while_running = while_running
        self.started = threading.Event()
        self.go = threading.Event()
        self.raised: BaseException | None = None

    def probe(self, path: Path, limits: bool = True) -> Probe:
        return self.real.probe(path, limits)

    def _hold(self) -> None:
        if not self.started.is_set():
            self.started.set()
            assert self.go.wait(30)

    def convert(self, src: Path, job: ConversionJob, dst: Path,
                on_progress: ProgressCallback) -> ConversionResult:  # fmt: skip
        def gated(percent: float) -> None:
            self._hold()
            on_progress(percent)

        if not self.while_running:
            self._hold()
        try:
            return self.real.convert(src, job, dst, gated if self.while_running else on_progress)
        except BaseException as exc:
            self.raised = exc
            raise


@pytest.mark.parametrize(
    "while_running",
    [
        pytest.param(True, id="ffmpeg-running"),  # stopped at its first heartbeat
        pytest.param(False, id="before-ffmpeg"),  # the stored input is gone when it starts
    ],
)
def test_deleted_tasks_running_conversion_stops_and_never_writes(
    deps: Dependencies, tmp_path: Path, while_running: bool
) -> None:
    """A deletes a task while it converts and B uploads at once: B must never get A's file."""
    deps.bus = FakeBus()
    gate = _GatedTranscoder(deps.transcoder, while_running)
    deps.transcoder = gate
    conversion.PROGRESS_INTERVAL = 0.0  # heartbeat on every progress line
    try:
        song = make_audio(tmp_path / "long.wav", 60.0)
        a_task = tasks.create_task(deps, _user(deps, "ann"), song, "long.wav", "mp3")
        worker = threading.Thread(
            target=conversion.convert, args=(deps, TaskRef(a_task.id or 0, 1))
        )
        worker.start()
        assert gate.started.wait(30)
        tasks.delete_task(deps, a_task.user_id, a_task.id or 0)
        bob = _user(deps, "bob")
        b_task = tasks.create_task(deps, bob, song, "long.wav", "mp3")
        assert b_task.id != a_task.id
        gate.go.set()
        worker.join(60)
        assert not worker.is_alive()
    finally:
        conversion.PROGRESS_INTERVAL = 1.0
    if while_running:
        assert isinstance(gate.raised, LeaseLost)
    else:
        assert isinstance(gate.raised, ConversionFailed), gate.raised
    got = tasks.get_task(deps, bob, b_task.id or 0)
    assert (got.status, got.output_key, got.claim_token) == (TaskStatus.UPLOADED, None, None)
    assert _blob_keys(deps) == {b_task.input_key}  # nothing of A's left, no output written


def test_a_claim_is_fenced_by_its_token_not_by_numbers_a_new_row_repeats() -> None:
    def row() -> Task:
        return Task(user_id=1, file_name="a.wav", input_format="wav", output_format="mp3",
                    input_key="k", id=70)  # fmt: skip

    from datetime import UTC, datetime, timedelta

    now, lease = datetime.now(UTC), timedelta(seconds=60)
    old, new = row(), row()
    old.claim(1, now, lease)
    new.claim(1, now, lease)  # same id, revision 1, attempt 1
    assert old.claim_token and old.claim_token != new.claim_token
    assert old.holds(1, old.claim_token) and not new.holds(1, old.claim_token)


# --- direct uploads ----------------------------------------------------------------------


def _put(client: FlaskClient, ticket: dict[str, Any], data: bytes) -> int:
    url = urlsplit(ticket["url"])
    response = client.put(f"{url.path}?{url.query}", data=data, headers=ticket["headers"])
    return response.status_code


def test_an_upload_url_takes_one_body_once_for_good(
    deps: Dependencies, settings: Settings, tmp_path: Path
) -> None:
    deps.bus = FakeBus()  # finalize is called below, as the event would
    app = create_app(deps)
    ivy = ApiClient(app.test_client(), "ivy")
    ticket = ivy.client.post("/api/uploads", headers=ivy.headers,
                             json={"fileName": "s.wav", "newFormat": "mp3"}).get_json()  # fmt: skip
    bodies = [make_audio(tmp_path / f"{i}.wav", 0.5 + i / 4).read_bytes() for i in range(4)]

    def put(body: bytes) -> int:
        return _put(app.test_client(), ticket, body)

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(put, bodies))
    assert sorted(statuses) == [200, 409, 409, 409]
    key = next(k for k in _blob_keys(deps) if k.startswith("direct-uploads/"))
    stored = (deps.settings.data_dir / "blobs" / key).read_bytes()
    assert stored == bodies[statuses.index(200)]  # the file kept is the one that was accepted

    task = direct_uploads.finalize(deps, key)
    assert task is not None and task.input_bytes == len(stored)
    assert ivy.client.delete(f"/api/tasks/{task.id}", headers=ivy.headers).status_code == 204
    # After the task is gone the URL is still dead, in the embedded store...
    assert _put(ivy.client, ticket, bodies[0]) == 409
    # ...and an object written again in Cloud Storage (which only checks it does not exist)
    # is removed, not turned into a second task.
    (deps.settings.data_dir / "blobs" / key).parent.mkdir(parents=True, exist_ok=True)
    (deps.settings.data_dir / "blobs" / key).write_bytes(bodies[0])
    assert direct_uploads.finalize(deps, key) is None
    assert _blob_keys(deps) == set()
    assert ivy.get("/api/tasks").get_json() == []


# --- throttling --------------------------------------------------------------------------


def _login(client: FlaskClient, password: str, address: str = "10.0.0.1", **headers: str) -> Any:
    return client.post(
        "/api/auth/login",
        json={"username": "alice", "password": password},
        environ_base={"REMOTE_ADDR": address},
        headers=headers,
    )


def test_password_guessing_is_slowed_down_and_forgiven(deps: Dependencies) -> None:
    clock = Clock()
    deps.clock = clock
    client = create_app(deps).test_client()
    ApiClient(client, "alice")
    statuses = [_login(client, f"guess-{i}").status_code for i in range(8)]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    blocked = _login(client, PASSWORD)  # even the right password waits: no oracle
    assert blocked.status_code == 429 and "too many failed log-ins" in blocked.get_json()["message"]
    assert int(blocked.headers["Retry-After"]) >= 1
    # A forged App Engine address header changes nothing off App Engine.
    assert _login(client, PASSWORD, **{"X-Appengine-User-Ip": "10.9.9.9"}).status_code == 429
    # The owner, from another address, is not locked out by the guesser.
    assert _login(client, PASSWORD, address="10.0.0.2").status_code == 200
    # The back-off grows: after waiting it out, one more wrong guess blocks for longer.
    clock.advance(int(blocked.headers["Retry-After"]))
    again = _login(client, "guess-again")
    assert again.status_code == 401
    later = _login(client, PASSWORD)
    assert later.status_code == 429
    assert int(later.headers["Retry-After"]) > int(blocked.headers["Retry-After"])
    # An hour later everything is forgiven, and a success resets the account's count.
    clock.advance(3600)
    assert _login(client, PASSWORD).status_code == 200
    assert [_login(client, f"x{i}").status_code for i in range(5)] == [401] * 5


def test_throttles_hold_across_processes(settings: Settings) -> None:
    """Two separately built services on one database (two processes, or instances)."""
    one, two = bootstrap.build(settings), bootstrap.build(settings)
    try:
        first, second = create_app(one).test_client(), create_app(two).test_client()
        ApiClient(first, "alice")
        for i in range(5):
            assert _login(first if i % 2 else second, f"guess-{i}").status_code == 401
        assert _login(first, "guess-5").status_code == 429
        assert _login(second, PASSWORD).status_code == 429
    finally:
        one.close()
        two.close()


def test_signup_bursts_from_one_address_are_slowed_down(client: FlaskClient) -> None:
    def signup(i: int, address: str = "10.0.0.7") -> Any:
        return client.post("/api/auth/signup", environ_base={"REMOTE_ADDR": address}, json={
            "username": f"bot{i}", "email": f"bot{i}@example.com",
            "password1": PASSWORD, "password2": PASSWORD})  # fmt: skip

    statuses = [signup(i).status_code for i in range(22)]
    assert statuses[:20] == [201] * 20 and statuses[20:] == [429, 429]
    assert signup(99, address="10.0.0.8").status_code == 201


def test_old_password_hashes_are_upgraded_at_the_next_login(
    deps: Dependencies, client: FlaskClient
) -> None:
    with deps.uow() as uow:
        uow.users.add(User(username="old", email="old@example.com",
                           password_hash=PasswordHasher().hash(PASSWORD)))  # fmt: skip
        uow.commit()
    response = client.post("/api/auth/login", json={"username": "old", "password": PASSWORD})
    assert response.status_code == 200
    with deps.uow() as uow:
        user = uow.users.by_username("old")
        assert user is not None and "m=19456,t=2,p=1" in user.password_hash
    assert (
        client.post("/api/auth/login", json={"username": "old", "password": PASSWORD}).status_code
        == 200
    )


# --- quotas ------------------------------------------------------------------------------


@pytest.fixture
def small_quota(settings: Settings) -> Settings:
    settings.quota_tasks_in_flight = 2
    settings.quota_stored_bytes = 400_000  # two inputs and the room for their outputs
    return settings


def test_quotas_name_their_limit(small_quota: Settings, deps: Dependencies, tmp_path: Path) -> None:
    deps.bus = FakeBus()  # nothing converts: the tasks stay in flight
    api = ApiClient(create_app(deps).test_client(), "quinn")
    song = make_audio(tmp_path / "s.mp3", 1.0, ("-c:a", "libmp3lame"))
    assert [api.upload(song, "aac").status_code for _ in range(2)] == [201, 201]
    third = api.upload(song, "aac")
    assert third.status_code == 429 and "the limit is 2" in third.get_json()["message"]
    direct = api.client.post("/api/uploads", headers=api.headers,
                             json={"fileName": "s.mp3", "newFormat": "aac"})  # fmt: skip
    assert direct.status_code == 429

    small_quota.quota_tasks_in_flight = 0
    big = make_audio(tmp_path / "big.wav", 3.0)  # ~260 kB
    refused = api.upload(big, "aac")
    assert refused.status_code == 413
    assert "storage quota of 400000 bytes" in refused.get_json()["message"]
    assert len(api.get("/api/tasks").get_json()) == 2  # the refused upload left nothing
