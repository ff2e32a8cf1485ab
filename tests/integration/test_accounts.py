"""The account life cycle through the API (issue 18), on SQLite and PostgreSQL: logging
out, changing the password, deleting the account with everything it has, verifying the
e-mail address; and finding 8: a task toggled between formats makes one mail and one
webhook call per window, and an address gets a bounded number of mails an hour (a real
SMTP server, a real webhook receiver)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select

from audioconv import bootstrap
from audioconv.adapters import orm
from audioconv.adapters.inprocess_bus import InProcessBus
from audioconv.config import Settings
from audioconv.domain.model import utcnow
from audioconv.entrypoints.api import create_app
from audioconv.services import recovery, verification
from audioconv.services.dependencies import Dependencies
from tests.support.api import ApiClient, wait_for
from tests.support.audio import make_audio
from tests.support.blobs import VERIFY_SUBJECT, mails_to, stored_files, verification_link
from tests.support.receiver import Receiver, webhook_receiver
from tests.support.smtp import Inbox, smtp_server

PASSWORD = "correct horse battery"  # ApiClient's


@pytest.fixture
def song(tmp_path: Path) -> Path:
    return make_audio(tmp_path / "song.wav", 0.5)


def _mail_folder(deps: Dependencies) -> Path:
    return deps.settings.data_dir / "mail"


def _login(client: FlaskClient, username: str, password: str = PASSWORD) -> Any:
    return client.post("/api/auth/login", json={"username": username, "password": password})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token(client: FlaskClient, username: str) -> dict[str, str]:
    response = _login(client, username)
    assert response.status_code == 200, response.get_json()
    return _bearer(response.get_json()["token"])


def _refused(client: FlaskClient, headers: dict[str, str]) -> str:
    response = client.get("/api/me", headers=headers)
    assert response.status_code == 401, response.get_json()
    return str(response.get_json()["message"])


# --- logging out and changing the password ------------------------------------------------


def test_logout_revokes_the_token_it_was_called_with_and_no_other(client: FlaskClient) -> None:
    alice = ApiClient(client, "alice")
    other = _token(client, "alice")
    assert client.post("/api/auth/logout", headers=alice.headers).status_code == 204
    assert "revoked" in _refused(client, alice.headers)
    assert client.post("/api/auth/logout", headers=alice.headers).status_code == 401
    assert client.get("/api/me", headers=other).status_code == 200
    assert client.post("/api/auth/logout").status_code == 401  # no token: nothing to revoke


def test_a_revoked_token_is_refused_by_another_process_at_once(settings: Settings) -> None:
    """Two separately built services on one database (two processes, or instances)."""
    one, two = bootstrap.build(settings), bootstrap.build(settings)
    try:
        first, second = create_app(one).test_client(), create_app(two).test_client()
        alice = ApiClient(first, "alice")
        assert second.get("/api/me", headers=alice.headers).status_code == 200
        assert first.post("/api/auth/logout", headers=alice.headers).status_code == 204
        assert "revoked" in _refused(second, alice.headers)
    finally:
        one.close()
        two.close()


def test_a_password_change_revokes_every_other_token(client: FlaskClient) -> None:
    alice = ApiClient(client, "alice")
    laptop, phone = _token(client, "alice"), _token(client, "alice")
    bob = ApiClient(client, "bob")
    body = {"oldPassword": PASSWORD, "newPassword": "a brand new passphrase"}
    changed = client.put("/api/me/password", json=body, headers=laptop)
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json() == {"revokedTokens": 2}
    assert client.get("/api/me", headers=laptop).status_code == 200  # the caller's stays
    for revoked in (alice.headers, phone):
        assert "revoked" in _refused(client, revoked)
    assert client.get("/api/me", headers=bob.headers).status_code == 200  # not bob's
    assert _login(client, "alice").status_code == 401
    assert _login(client, "alice", "a brand new passphrase").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [({"oldPassword": "wrong password", "newPassword": "a brand new passphrase"}, 403,
      "the password is not right"),
     ({"oldPassword": PASSWORD, "newPassword": "short"}, 400,
      "newPassword must be at least 8 characters"),
     ({"oldPassword": PASSWORD, "newPassword": PASSWORD}, 400,
      "newPassword is the password you have: choose another"),
     ({"oldPassword": PASSWORD}, 400, "missing field 'newPassword'"),
     ({"newPassword": "a brand new passphrase"}, 400, "missing field 'oldPassword'"),
     ({"oldPassword": PASSWORD, "newPassword": 12345678}, 400, "missing field 'newPassword'")],
)  # fmt: skip
def test_a_refused_password_change_changes_nothing(
    client: FlaskClient, body: dict[str, Any], status: int, message: str
) -> None:
    alice = ApiClient(client, "alice")
    other = _token(client, "alice")
    response = client.put("/api/me/password", json=body, headers=alice.headers)
    assert (response.status_code, response.get_json()["message"]) == (status, message)
    assert client.get("/api/me", headers=other).status_code == 200
    assert _login(client, "alice").status_code == 200


def test_guessing_the_old_password_is_throttled_as_log_ins_are(client: FlaskClient) -> None:
    alice = ApiClient(client, "alice")
    body = {"oldPassword": "guess", "newPassword": "a brand new passphrase"}
    statuses = [
        client.put("/api/me/password", json={**body, "oldPassword": f"guess {i}"},
                   headers=alice.headers).status_code
        for i in range(6)
    ]  # fmt: skip
    assert statuses == [403] * 5 + [429]
    assert _login(client, "alice").status_code == 429  # the account is slowed down alike


# --- deleting the account -------------------------------------------------------------


def _rows(deps: Dependencies, table: Any, **where: Any) -> int:
    engine = create_engine(deps.settings.resolved_database_url)
    try:
        query = select(func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        with engine.connect() as conn:
            return int(conn.scalar(query) or 0)
    finally:
        engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def hooked(settings: Settings) -> Iterator[Dependencies]:
    """The service, allowed to call webhooks on this machine (the test's receiver)."""
    built = bootstrap.build(settings.model_copy(update={"webhook_allow_private": True}))
    yield built
    built.close()


@pytest.mark.report_pass
def test_deleting_the_account_removes_everything_it_has_and_says_so(
    hooked: Dependencies, receiver: Receiver, song: Path
) -> None:
    deps, client = hooked, create_app(hooked).test_client()
    bob = ApiClient(client, "bob")
    bobs_task = bob.upload(song, "mp3").get_json()["id"]
    bob.wait(bobs_task, report=True)
    bobs_files = set(stored_files(deps))
    alice = ApiClient(client, "alice")
    hooks = receiver.url
    assert (
        client.put("/api/me", json={"webhookUrl": hooks}, headers=alice.headers).status_code == 200
    )
    first = alice.upload(song, "mp3", webhookUrl=f"{receiver.url}/own").get_json()
    alice.wait(first["id"], report=True)  # input, output and waveform stored
    with song.open("rb") as a, song.open("rb") as b:
        batch = client.post(
            "/api/tasks", headers=alice.headers, content_type="multipart/form-data",
            data={"fileName": [(a, "a.wav"), (b, "b.wav")], "newFormat": "ogg"},
        ).get_json()  # fmt: skip
    for task in batch["tasks"]:
        alice.wait(task["id"], report=True)
    ticket = client.post("/api/uploads", headers=alice.headers, json={
        "fileName": "late.wav", "newFormat": "mp3", "webhookUrl": hooks}).get_json()  # fmt: skip
    _token(client, "alice")
    assert len(set(stored_files(deps)) - bobs_files) == 9

    wrong = client.delete("/api/me", json={"password": "not it"}, headers=alice.headers)
    assert (wrong.status_code, wrong.get_json()["message"]) == (403, "the password is not right")
    assert client.delete("/api/me", json={}, headers=alice.headers).status_code == 400
    assert alice.get("/api/me").status_code == 200

    deleted = client.delete("/api/me", json={"password": PASSWORD}, headers=alice.headers)
    assert deleted.status_code == 200, deleted.get_json()
    assert deleted.get_json() == {"deleted": {
        "tasks": 3, "files": 9, "batches": 1, "webhooks": 3, "queuedMessages": 0, "tokens": 2,
    }}  # fmt: skip
    assert set(stored_files(deps)) == bobs_files  # nothing of hers; all of bob's
    assert bob.get(f"/api/tasks/{bobs_task}").get_json()["status"] == "processed"
    for table in (orm.tasks, orm.batches, orm.api_tokens):
        assert _rows(deps, table, user_id=alice.user_id) == 0
    assert _rows(deps, orm.upload_webhooks) == 0 and _rows(deps, orm.users) == 1
    assert "revoked" in _refused(client, alice.headers)
    assert _login(client, "alice").status_code == 401
    # Her upload URL, used after the account went, keeps nothing.
    url = urlsplit(ticket["url"])
    client.put(f"{url.path}?{url.query}", data=song.read_bytes(), headers=ticket["headers"])
    deadline = time.monotonic() + 30
    while set(stored_files(deps)) != bobs_files:
        assert time.monotonic() < deadline, stored_files(deps)
        time.sleep(0.05)
    assert _rows(deps, orm.tasks) == 1
    # The name is free again, for a new account with a new id and nothing in it.
    again = ApiClient(client, "alice")
    assert again.user_id > alice.user_id and again.get("/api/tasks").get_json() == []


def test_deleting_the_account_takes_its_queued_messages_off_the_queue(
    settings: Settings, song: Path
) -> None:
    """With the database queue (`audioconv serve`) and no worker yet: the account's
    conversion requests and its verification mail are taken off; bob's stay."""
    queued = bootstrap.build(settings.model_copy(update={"event_backend": "queue"}))
    try:
        client = create_app(queued).test_client()
        bob = ApiClient(client, "bob")
        bobs_task = bob.upload(song, "mp3").get_json()["id"]
        alice = ApiClient(client, "alice")
        for target in ("mp3", "ogg"):
            assert alice.upload(song, target).status_code == 201
        assert _rows(queued, orm.messages) == 5  # two sign-up mails, three conversions
        deleted = client.delete("/api/me", json={"password": PASSWORD}, headers=alice.headers)
        assert deleted.get_json()["deleted"]["queuedMessages"] == 3
        assert deleted.get_json()["deleted"]["files"] == 2  # inputs: nothing converted yet
        engine = create_engine(settings.resolved_database_url)
        with engine.connect() as conn:
            left = [row.data for row in conn.execute(select(orm.messages.c.data))]
        engine.dispose()
        assert sorted(left, key=str) == sorted(
            [{"userId": bob.user_id}, {"taskId": bobs_task, "revision": 1}], key=str
        )
    finally:
        queued.close()


# --- verifying the e-mail address ----------------------------------------------------------


def test_no_completion_mail_until_the_address_is_verified(
    client: FlaskClient, deps: Dependencies, song: Path
) -> None:
    folder = _mail_folder(deps)
    alice = ApiClient(client, "alice")
    assert alice.get("/api/me").get_json()["emailVerified"] is False
    before = alice.upload(song, "mp3").get_json()
    alice.wait(before["id"])
    link = verification_link(folder, alice.email)  # the sign-up's mail arrives meanwhile
    # The notifier ran for that task (it is recorded as told), and mailed nothing.
    deadline = time.monotonic() + 30
    while _rows(deps, orm.tasks, notified_revision=1) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert mails_to(folder, alice.email, "is ready") == []
    page = client.get(link, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert b"Your e-mail address is verified" in page.data
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    again = client.get(link)  # again, as JSON: no error
    assert again.get_json() == {"email": alice.email, "emailVerified": True}
    assert alice.get("/api/me").get_json()["emailVerified"] is True
    after = alice.upload(song, "ogg").get_json()
    alice.wait(after["id"])
    deadline = time.monotonic() + 30
    while not mails_to(folder, alice.email, "is ready as ogg"):
        assert time.monotonic() < deadline, "no completion mail after verifying"
        time.sleep(0.05)
    assert len(mails_to(folder, alice.email, "is ready")) == 1


def test_links_that_are_not_good_are_refused(client: FlaskClient, deps: Dependencies) -> None:
    alice = ApiClient(client, "alice")
    link = verification_link(_mail_folder(deps), alice.email)
    token = link.partition("token=")[2]
    with deps.uow(readonly=True) as uow:
        user = uow.users.get(alice.user_id)
    assert user is not None
    expired = verification.link_token(
        replace(deps, clock=lambda: utcnow() - timedelta(days=3)), user
    )
    api_token = alice.headers["Authorization"].split()[1]
    other_key = jwt.encode(jwt.decode(token, options={"verify_signature": False}),
                           deps.settings.signing_key, algorithm="HS256")  # fmt: skip
    cases = {
        expired: "this verification link has expired: log in and ask for a new one",
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"): "not a valid verification link",
        api_token: "this is not a valid verification link",  # an API token is no link
        other_key: "this is not a valid verification link",  # signed with the API's key
        "": "missing field 'token'",
    }
    for value, message in cases.items():
        response = client.get(f"/api/auth/verify-email?token={value}")
        assert response.status_code == 400, (value, response.get_json())
        assert message in response.get_json()["message"]
    assert client.get("/api/auth/verify-email").status_code == 400
    # Nor is a link a bearer token.
    assert client.get("/api/me", headers=_bearer(token)).status_code == 401
    assert alice.get("/api/me").get_json()["emailVerified"] is False


def test_a_new_address_is_unverified_and_gets_its_own_link(
    client: FlaskClient, deps: Dependencies
) -> None:
    folder = _mail_folder(deps)
    alice = ApiClient(client, "alice")
    bob = ApiClient(client, "bob")
    old_link = verification_link(folder, alice.email)
    assert client.get(old_link).status_code == 200
    taken = client.put("/api/me", json={"email": "BOB@example.com"}, headers=alice.headers)
    assert (taken.status_code, taken.get_json()["message"]) == (409, "email is already registered")
    moved = client.put("/api/me", json={"email": "Alice.New@Example.com"}, headers=alice.headers)
    assert moved.status_code == 200, moved.get_json()
    assert (moved.get_json()["email"], moved.get_json()["emailVerified"]) == (
        "alice.new@example.com", False)  # fmt: skip
    new_link = verification_link(folder, "alice.new@example.com")
    stale = client.get(old_link)
    assert stale.status_code == 400 and "no longer has" in stale.get_json()["message"]
    assert client.get(new_link).status_code == 200
    assert alice.get("/api/me").get_json()["emailVerified"] is True
    same = client.put("/api/me", json={"email": "alice.new@example.com"}, headers=alice.headers)
    assert same.get_json()["emailVerified"] is True  # the same address: nothing changes
    assert bob.get("/api/me").get_json()["email"] == "bob@example.com"


def test_asking_for_the_link_again_is_throttled(client: FlaskClient, deps: Dependencies) -> None:
    folder = _mail_folder(deps)
    alice = ApiClient(client, "alice")
    verification_link(folder, alice.email)
    answers = [client.post("/api/me/email/verify", headers=alice.headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[0].get_json() == {"email": alice.email, "sent": True}
    assert int(answers[2].headers["Retry-After"]) > 500
    assert "too many verification mails" in answers[2].get_json()["message"]
    _settle(deps)
    # The sign-up's, and one or two more (a copy asked for while one waits is one mail).
    assert len(mails_to(folder, alice.email, VERIFY_SUBJECT)) in (2, 3)
    # Any of them verifies; then there is nothing to ask for.
    assert client.get(verification_link(folder, alice.email)).status_code == 200
    verified = client.post("/api/me/email/verify", headers=alice.headers)
    assert (verified.status_code, verified.get_json()["message"]) == (
        409, "your e-mail address is verified already")  # fmt: skip


# --- finding 8: mail and webhook amplification ------------------------------------------


class _Clock:
    """A time that stands still until ``advance`` moves it (the window passes without a
    sleep, and a slow machine's 40 conversions do not outlast it either)."""

    def __init__(self) -> None:
        self.start, self.offset = utcnow(), timedelta(0)

    def __call__(self) -> Any:
        return self.start + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_server() as running:
        yield running


@pytest.fixture
def mailing(settings: Settings, inbox: Inbox) -> Iterator[Dependencies]:
    """The service mailing through a real SMTP server, calling webhooks on this machine,
    its clock movable; one notification per task per minute, 20 mails an address an hour."""
    built = bootstrap.build(settings.model_copy(update={
        "mail_backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": inbox.port,
        "webhook_allow_private": True, "notify_window_seconds": 60,
        "mail_per_address_per_hour": 20,
    }))  # fmt: skip
    built.clock = _Clock()
    yield built
    built.close()


def _verified(client: FlaskClient, inbox: Inbox, name: str) -> ApiClient:
    user = ApiClient(client, name)
    (mail,) = inbox.wait_for(user.email, VERIFY_SUBJECT, 1)
    body = mail.get_payload(decode=True)  # quoted-printable: the link is a long line
    assert isinstance(body, bytes)
    link = body.decode()[body.decode().index("/api/auth/verify-email?token=") :].split()[0]
    assert client.get(link).status_code == 200
    return user


def _toggle(user: ApiClient, task_id: int, times: int) -> int:
    """Convert the task again ``times`` times, between mp3 and ogg, each revision let
    finish before the next (the worst case: every one of them is done); the last one."""
    revision = 1
    for n in range(times):
        target = "ogg" if n % 2 == 0 else "mp3"
        changed = user.client.put(f"/api/tasks/{task_id}", json={"newFormat": target},
                                  headers=user.headers)  # fmt: skip
        assert changed.status_code == 200, changed.get_json()
        revision = changed.get_json()["revision"]
        wait_for(lambda: user.get(f"/api/tasks/{task_id}").get_json(), revision=revision)
    return revision


def _settle(deps: Dependencies) -> None:
    """Let every queued message (notifications, webhook attempts) be handled."""
    bus = deps.bus
    assert isinstance(bus, InProcessBus)
    assert bus.wait_idle(30)


@pytest.mark.parametrize("verified", [True, False])
def test_toggling_a_task_makes_one_mail_and_one_webhook_call_per_window(
    mailing: Dependencies, inbox: Inbox, receiver: Receiver, song: Path, verified: bool
) -> None:
    client = create_app(mailing).test_client()
    user = _verified(client, inbox, "tog") if verified else ApiClient(client, "tog")
    assert client.put("/api/me", json={"webhookUrl": receiver.url},
                      headers=user.headers).status_code == 200  # fmt: skip
    task = user.upload(song, "mp3").get_json()
    user.wait(task["id"])
    receiver.wait_for(1)
    last = _toggle(user, task["id"], 40)
    _settle(mailing)
    ready = inbox.to(user.email, "is ready")
    assert len(ready) == int(verified) and len(receiver.requests) == 1
    # Once the window has passed, the sweep tells the latest revision, once.
    clock = mailing.clock
    assert isinstance(clock, _Clock)
    clock.advance(61)
    assert recovery.sweep(mailing, grace_seconds=0).notifications == 1
    receiver.wait_for(2)
    _settle(mailing)
    assert recovery.sweep(mailing, grace_seconds=0).notifications == 0
    events = [r.body for r in receiver.requests]
    assert len(events) == 2 and f'"revision":{last}'.encode() in events[1]
    ready = inbox.to(user.email, "is ready")
    if verified:
        assert [m["Subject"] for m in ready] == [
            "Your file song.wav is ready as mp3",
            "Your file song.wav is ready as mp3",
        ]
    else:  # someone else's address: the sign-up's link and nothing more
        assert ready == [] and len(inbox.to(user.email)) == 1


def test_an_address_gets_a_bounded_number_of_mails_an_hour(
    mailing: Dependencies, inbox: Inbox, song: Path, tmp_path: Path
) -> None:
    mailing.settings = mailing.settings.model_copy(update={"mail_per_address_per_hour": 4})
    client = create_app(mailing).test_client()
    user = _verified(client, inbox, "busy")  # the link: one mail of four
    for n in range(5):
        user.wait(user.upload(song, "mp3", name=f"song{n}.wav").get_json()["id"])
    _settle(mailing)
    ready = inbox.to(user.email, "is ready")
    assert len(ready) == 3
    note = "This is the last of 4 mails this address may get within an hour"
    assert note in str(ready[-1].get_payload(decode=True))
    assert "last of" not in str(ready[0].get_payload(decode=True))
    clock = mailing.clock
    assert isinstance(clock, _Clock)
    clock.advance(3601)  # an hour on, mails go again
    user.wait(user.upload(song, "mp3", name="later.wav").get_json()["id"])
    _settle(mailing)
    assert len(inbox.to(user.email, "is ready")) == 4
