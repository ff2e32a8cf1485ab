"""The account life cycle on fakes of our own ports: token records (issued, pruned,
revoked, expired), password changes, account deletion, verification links and their
mails, one notification per task per window, and the hourly bound on mails to an address."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from pathlib import Path
from typing import cast

import jwt
import pytest

from audioconv.domain.account import MAX_TOKENS_PER_USER, VERIFY_MAIL, address_key
from audioconv.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MailRejected,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from audioconv.domain.model import Task, TaskStatus, User, utcnow
from audioconv.domain.throttle import Rule, Throttle
from audioconv.entrypoints import events
from audioconv.ports import Message
from audioconv.services import (
    accounts,
    auth,
    batches,
    conversion,
    mail_quota,
    notification,
    profile,
    recovery,
    tasks,
    throttling,
    verification,
)
from audioconv.services.dependencies import Dependencies
from audioconv.services.direct_uploads import DirectKey
from audioconv.services.messages import TaskRef
from tests.unit.fakes import (
    Clock,
    FakeBlobs,
    FakeBus,
    FakeMailer,
    FakeThrottles,
    FakeUnitOfWork,
    FakeWebhooks,
    member,
)


def _clock(deps: Dependencies) -> Clock:
    return cast(Clock, deps.clock)


def _db(deps: Dependencies) -> FakeUnitOfWork:
    return cast(FakeUnitOfWork, deps.uow())


def _sent(deps: Dependencies) -> list[tuple[str, str, str]]:
    return cast(FakeMailer, deps.mailer).sent


def _real_time(deps: Dependencies) -> None:
    """PyJWT checks expiry against the real clock: tokens are issued at real time."""
    _clock(deps).now = utcnow()


def _caller(deps: Dependencies, user: User) -> auth.Caller:
    return auth.caller(deps, f"Bearer {auth.issue_token(deps, user)}")


# --- token records ------------------------------------------------------------------------


def test_each_token_has_a_record_and_a_user_keeps_the_newest_hundred(deps: Dependencies) -> None:
    user = member(deps)
    _real_time(deps)
    first = _caller(deps, user)
    records = _db(deps).tokens.rows
    assert set(records) == {first.token_id}
    record = records[first.token_id]
    ttl = timedelta(seconds=deps.settings.token_ttl_seconds)
    assert (record.user_id, record.expires_at - record.issued_at) == (user.id, ttl)
    for _ in range(MAX_TOKENS_PER_USER):
        _clock(deps).advance(1)
        auth.issue_token(deps, user)
    assert len(records) == MAX_TOKENS_PER_USER and first.token_id not in records
    with pytest.raises(Unauthorized, match="revoked"):
        auth.authenticate(deps, f"Bearer {_encode(deps, first)}")


def _encode(deps: Dependencies, caller: auth.Caller) -> str:
    now = utcnow()
    claims = {"sub": str(caller.user_id), "jti": caller.token_id, "iat": now,
              "exp": now + timedelta(hours=1)}  # fmt: skip
    return jwt.encode(claims, deps.settings.signing_key, algorithm="HS256")


def test_the_sweep_forgets_expired_token_records(deps: Dependencies) -> None:
    user = member(deps)
    auth.issue_token(deps, user)
    _clock(deps).advance(deps.settings.token_ttl_seconds - 1)
    auth.issue_token(deps, user)
    recovery.sweep(deps)
    assert len(_db(deps).tokens.rows) == 2
    _clock(deps).advance(1)
    recovery.sweep(deps)
    assert len(_db(deps).tokens.rows) == 1


def test_logout_revokes_that_token_only(deps: Dependencies) -> None:
    user = member(deps)
    _real_time(deps)
    one, two = _caller(deps, user), _caller(deps, user)
    accounts.logout(deps, one)
    assert set(_db(deps).tokens.rows) == {two.token_id}
    accounts.logout(deps, one)  # again: nothing more to revoke
    assert set(_db(deps).tokens.rows) == {two.token_id}


# --- the password -------------------------------------------------------------------------


def test_a_new_password_keeps_the_callers_token_and_revokes_the_rest(deps: Dependencies) -> None:
    user, bob = member(deps), member(deps, "bob")
    _real_time(deps)
    mine, other, bobs = _caller(deps, user), _caller(deps, user), _caller(deps, bob)
    assert accounts.change_password(deps, mine, "password1", "password2") == 1
    assert set(_db(deps).tokens.rows) == {mine.token_id, bobs.token_id}
    assert other.token_id not in _db(deps).tokens.rows
    assert auth.login(deps, "ann", "password2") is user
    with pytest.raises(Unauthorized):
        auth.login(deps, "ann", "password1")


@pytest.mark.parametrize(
    ("old", "new", "error", "message"),
    [("password1", "short", InvalidInput, "newPassword must be at least 8 characters"),
     ("password1", "p" * 1025, InvalidInput, "newPassword must be at most 1024 characters"),
     ("password1", "password1", InvalidInput,
      "newPassword is the password you have: choose another"),
     ("wrong-one", "password2", Forbidden, "the password is not right")],
)  # fmt: skip
def test_a_refused_password_change_changes_nothing(
    deps: Dependencies, old: str, new: str, error: type[Exception], message: str
) -> None:
    user = member(deps)
    _real_time(deps)
    mine, other = _caller(deps, user), _caller(deps, user)
    stored = user.password_hash
    with pytest.raises(error, match=f"^{message}$"):
        accounts.change_password(deps, mine, old, new)
    assert user.password_hash == stored and other.token_id in _db(deps).tokens.rows


def test_wrong_passwords_count_as_failed_log_ins(deps: Dependencies) -> None:
    member(deps)
    _real_time(deps)
    for n in range(5):
        with pytest.raises(Forbidden):
            accounts.confirm_password(deps, 1, f"guess-{n}", "10.0.0.9")
    with pytest.raises(TooManyRequests, match="too many failed log-ins"):
        accounts.confirm_password(deps, 1, "password1", "10.0.0.9")
    with pytest.raises(NotFound):
        accounts.confirm_password(deps, 99, "password1")


# --- deleting the account -----------------------------------------------------------------


def _finished(deps: Dependencies, user: User, upload: Path) -> Task:
    task = tasks.create_task(deps, user.id or 0, upload, "a.mp3", "ogg")
    conversion.convert(deps, TaskRef.of(task))
    assert task.status is TaskStatus.PROCESSED and task.output_key
    return task


def test_deleting_an_account_removes_all_it_has_and_counts_it(
    deps: Dependencies, upload: Path
) -> None:
    user, bob = member(deps), member(deps, "bob")
    uid = user.id or 0
    _real_time(deps)
    auth.issue_token(deps, user)
    auth.issue_token(deps, bob)
    profile.update_profile(deps, uid, webhook_url="https://hooks.example.com/in")
    mine = _finished(deps, user, upload)
    mine.webhook_url = "https://hooks.example.com/task"
    batch = batches.create_batch(deps, uid, "album")
    bobs = _finished(deps, bob, upload)
    bobs_batch = batches.create_batch(deps, bob.id or 0, "theirs")
    arrived = DirectKey(uid, "f" * 32, "mp3", "late.wav", {}).key
    cast(FakeBlobs, deps.blobs).files[arrived] = b"AUDIO late"
    _db(deps).uploads.set_webhook("f" * 32, "https://hooks.example.com/up", deps.clock(), uid)
    _db(deps).queue.rows = [{"taskId": mine.id}, {"userId": uid}, {"taskId": bobs.id}]
    throttling.record(deps, [VERIFY_MAIL.on(str(uid))])
    deleted = accounts.delete_account(deps, uid, "password1")
    assert deleted.as_json() == {"tasks": 1, "files": 3, "batches": 1, "webhooks": 3,
                                 "queuedMessages": 2, "tokens": 1}  # fmt: skip
    db = _db(deps)
    assert set(db.batches.rows) == {bobs_batch.id} and batch.id not in db.batches.rows
    assert set(db.users.rows) == {bob.id} and set(db.tasks.rows) == {bobs.id}
    assert db.queue.rows == [{"taskId": bobs.id}] and db.uploads.webhooks == {}
    assert [t.user_id for t in db.tokens.rows.values()] == [bob.id]
    assert f"verify-mail:{uid}" not in db.throttles.rows
    assert set(cast(FakeBlobs, deps.blobs).files) == {bobs.input_key, bobs.output_key}
    with pytest.raises(NotFound):
        accounts.delete_account(deps, uid, "password1")


def test_a_wrong_password_deletes_nothing(deps: Dependencies, upload: Path) -> None:
    user = member(deps)
    task = _finished(deps, user, upload)
    with pytest.raises(Forbidden):
        accounts.delete_account(deps, user.id or 0, "wrong-one")
    assert _db(deps).tasks.rows == {task.id: task} and len(cast(FakeBlobs, deps.blobs).files) == 2


# --- verifying the address ----------------------------------------------------------------


def _bus(deps: Dependencies) -> FakeBus:
    return cast(FakeBus, deps.bus)


def _account_mails(deps: Dependencies) -> list[int]:
    return [d["userId"] for _, d, a in _bus(deps).published if verification.ACCOUNT_MAIL in a]


def _handle_account_mails(deps: Dependencies) -> None:
    for n, (topic, data, attributes) in enumerate(list(_bus(deps).published)):
        if verification.ACCOUNT_MAIL in attributes:
            assert topic == deps.settings.finished_topic
            events.handle_finished(deps, Message(str(n), data, attributes))
    _bus(deps).published.clear()


def _link_token(deps: Dependencies) -> str:
    body = _sent(deps)[-1][2]
    return body.split("?token=")[1].split()[0]


def test_sign_up_asks_the_notifier_for_the_link_which_verifies(deps: Dependencies) -> None:
    deps.settings = deps.settings.model_copy(update={"public_url": "https://audio.example/"})
    user = auth.signup(deps, "ann", "ann@example.com", "password1", "password1")
    assert _bus(deps).published == [(
        deps.settings.finished_topic, {"userId": user.id},
        {verification.ACCOUNT_MAIL: verification.VERIFY, "userId": str(user.id)},
    )]  # fmt: skip
    _real_time(deps)
    _handle_account_mails(deps)
    ((to, subject, body),) = _sent(deps)
    assert (to, subject) == ("ann@example.com", "Confirm your e-mail address for audioconv")
    assert "https://audio.example/api/auth/verify-email?token=" in body
    assert "it works for 48 hours" in body
    assert user.email_verified_at is None
    verified = verification.verify(deps, _link_token(deps))
    assert verified is user and user.email_verified_at == deps.clock()
    _clock(deps).advance(10)
    verification.verify(deps, _link_token(deps))  # again: no change, no error
    assert user.email_verified_at == deps.clock() - timedelta(seconds=10)
    _handle_account_mails(deps)
    verification.send(deps, user.id or 0)  # verified: no mail is needed
    assert len(_sent(deps)) == 1


def test_a_link_names_one_address_and_expires(deps: Dependencies) -> None:
    user = member(deps, verified=False)
    _real_time(deps)
    token = verification.link_token(deps, user)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == verification.AUDIENCE and "ann" not in str(claims)
    with pytest.raises(jwt.InvalidSignatureError):  # its own key: not the API's
        jwt.decode(token, deps.settings.signing_key, algorithms=["HS256"],
                   audience=verification.AUDIENCE)  # fmt: skip
    profile.update_profile(deps, user.id or 0, email="ann@elsewhere.example")
    with pytest.raises(InvalidInput, match="an address the account no longer has"):
        verification.verify(deps, token)
    _clock(deps).now = utcnow() - timedelta(seconds=deps.settings.email_verification_ttl_seconds)
    old = verification.link_token(deps, user)
    with pytest.raises(InvalidInput, match=r"^this verification link has expired"):
        verification.verify(deps, old)
    for bad in ("", "x.y.z", token[:-1]):
        with pytest.raises(InvalidInput, match=r"^this is not a valid verification link$"):
            verification.verify(deps, bad)
    assert user.email_verified_at is None


@pytest.mark.parametrize("sub", ["0", "x", "\u0661", str(2**31)])
def test_a_link_naming_no_possible_account_is_refused(deps: Dependencies, sub: str) -> None:
    _real_time(deps)
    now = utcnow()
    claims = {"sub": sub, "aud": verification.AUDIENCE, "email": "e", "iat": now,
              "exp": now + timedelta(hours=1)}  # fmt: skip
    forged = jwt.encode(claims, verification._key(deps), algorithm="HS256")
    with pytest.raises(InvalidInput, match=r"^this is not a valid verification link$"):
        verification.verify(deps, forged)


def test_a_link_for_a_deleted_account_is_refused(deps: Dependencies) -> None:
    user = member(deps, verified=False)
    _real_time(deps)
    token = verification.link_token(deps, user)
    accounts.delete_account(deps, user.id or 0, "password1")
    with pytest.raises(InvalidInput, match="an account that no longer exists"):
        verification.verify(deps, token)
    verification.send(deps, user.id or 0)
    assert _sent(deps) == []


def test_asking_again_is_throttled_then_let_through(deps: Dependencies) -> None:
    user = member(deps, verified=False)
    uid = user.id or 0
    verification.resend(deps, uid)
    verification.resend(deps, uid)
    with pytest.raises(TooManyRequests) as slowed:
        verification.resend(deps, uid)
    assert slowed.value.retry_after == 600
    _clock(deps).advance(600)
    verification.resend(deps, uid)
    with pytest.raises(TooManyRequests) as slower:
        verification.resend(deps, uid)
    assert slower.value.retry_after == 1200
    assert _account_mails(deps) == [uid] * 3
    user.email_verified_at = deps.clock()
    _clock(deps).advance(3600)
    with pytest.raises(Conflict, match="verified already"):
        verification.resend(deps, uid)
    with pytest.raises(NotFound):
        verification.resend(deps, 99)


def test_a_new_address_is_unverified_and_gets_a_link(deps: Dependencies) -> None:
    user, _ = member(deps), member(deps, "bob")
    uid = user.id or 0
    with pytest.raises(Conflict, match="email is already registered"):
        profile.update_profile(deps, uid, email=" BOB@Example.com")
    assert user.email_verified_at is not None and _bus(deps).published == []
    profile.update_profile(deps, uid, email="ann@example.com")  # the same: nothing
    assert user.email_verified_at is not None and _bus(deps).published == []
    profile.update_profile(deps, uid, email="Ann.New@Example.com")
    assert (user.email, user.email_verified_at) == ("ann.new@example.com", None)
    assert _account_mails(deps) == [uid]
    # Each new address is mailed a link: changing it counts as asking for one.
    profile.update_profile(deps, uid, email="ann.2@example.com")
    with pytest.raises(TooManyRequests, match="too many verification mails"):
        profile.update_profile(deps, uid, email="ann.3@example.com")
    with pytest.raises(TooManyRequests):
        verification.resend(deps, uid)
    assert user.email == "ann.2@example.com" and _account_mails(deps) == [uid, uid]


def test_a_verification_mail_refused_for_good_is_dropped(deps: Dependencies) -> None:
    class Refusing:
        def send(self, to: str, subject: str, body: str) -> None:
            raise MailRejected("550 no such user")

    user = member(deps, verified=False)
    deps.mailer = Refusing()
    verification.send(deps, user.id or 0)  # logged, not raised: sending again cannot help


@pytest.mark.parametrize(
    ("data", "attributes"),
    [({"userId": "1"}, {verification.ACCOUNT_MAIL: verification.VERIFY}),
     ({"userId": True}, {verification.ACCOUNT_MAIL: verification.VERIFY}),
     ({"userId": 0}, {verification.ACCOUNT_MAIL: verification.VERIFY}),
     ({}, {verification.ACCOUNT_MAIL: verification.VERIFY}),
     ({"userId": 1}, {verification.ACCOUNT_MAIL: "reset-password"})],
)  # fmt: skip
def test_a_malformed_account_mail_message_is_dropped(
    deps: Dependencies, data: dict[str, object], attributes: dict[str, str]
) -> None:
    member(deps, verified=False)
    events.handle_finished(deps, Message("m1", data, attributes))
    assert _sent(deps) == []


# --- one notification per task per window (finding 8) ---------------------------------


def _webhook_posts(deps: Dependencies) -> list[tuple[str, bytes, dict[str, str]]]:
    return cast(FakeWebhooks, deps.webhooks).posts


def _deliver_all(deps: Dependencies) -> None:
    """Hand every queued finished announcement and webhook attempt to its handler."""
    while _bus(deps).published:
        topic, data, attributes = _bus(deps).published.pop(0)
        message = Message("m", data, attributes)
        if topic == deps.settings.finished_topic:
            events.handle_finished(deps, message)
        elif topic == deps.settings.webhook_topic:
            events.handle_webhook(deps, message)


def _convert_again(deps: Dependencies, task: Task, target: str) -> None:
    tasks.change_format(deps, task.user_id, task.id or 0, target)
    conversion.convert(deps, TaskRef.of(task))


@pytest.mark.parametrize("verified", [True, False])
def test_a_toggled_task_tells_its_owner_once_per_window(
    deps: Dependencies, upload: Path, verified: bool
) -> None:
    user = member(deps, verified=verified)
    profile.update_profile(deps, user.id or 0, webhook_url="https://hooks.example.com/in")
    task = _finished(deps, user, upload)
    _deliver_all(deps)
    for n in range(40):
        _clock(deps).advance(0.5)
        _convert_again(deps, task, "mp3" if n % 2 == 0 else "ogg")
        _deliver_all(deps)
    assert len(_sent(deps)) == int(verified) and len(_webhook_posts(deps)) == 1
    assert task.notified_revision == 1 and task.revision == 41
    assert recovery.sweep(deps).notifications == 0  # within the window: not yet
    _clock(deps).advance(61)
    assert recovery.sweep(deps).notifications == 1
    _deliver_all(deps)
    assert task.notified_revision == 41 and task.notified_at == deps.clock()
    assert len(_sent(deps)) == 2 * int(verified) and len(_webhook_posts(deps)) == 2
    if verified:
        assert _sent(deps)[-1][1] == "Your file a.mp3 is ready as ogg"
    assert b'"revision":41' in _webhook_posts(deps)[-1][1]
    assert recovery.sweep(deps).notifications == 0


def test_a_revision_begun_while_its_mail_went_out_still_waits_for_the_window(
    deps: Dependencies, upload: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = member(deps)
    task = _finished(deps, user, upload)
    mailer = cast(FakeMailer, deps.mailer)
    send = mailer.send

    def send_then_convert_again(to: str, subject: str, body: str) -> None:
        send(to, subject, body)
        monkeypatch.setattr(mailer, "send", send)
        tasks.change_format(deps, user.id or 0, task.id or 0, "mp3")  # before it is recorded

    monkeypatch.setattr(mailer, "send", send_then_convert_again)
    _deliver_all(deps)
    assert len(_sent(deps)) == 1 and task.revision == 2 and task.notified_revision == 0
    assert task.notified_at == deps.clock()  # the window opened with that mail
    conversion.convert(deps, TaskRef.of(task))
    _deliver_all(deps)
    assert len(_sent(deps)) == 1  # revision 2 waits for the window, then the sweep tells it
    _clock(deps).advance(61)
    assert recovery.sweep(deps).notifications == 1
    _deliver_all(deps)
    assert len(_sent(deps)) == 2 and task.notified_revision == 2


def test_without_a_window_every_revision_is_told(deps: Dependencies, upload: Path) -> None:
    deps.settings = deps.settings.model_copy(update={"notify_window_seconds": 0})
    user = member(deps)
    task = _finished(deps, user, upload)
    _deliver_all(deps)
    _convert_again(deps, task, "mp3")
    _deliver_all(deps)
    assert len(_sent(deps)) == 2


def test_may_notify_once_the_window_has_passed() -> None:
    task = Task(1, "a.mp3", "mp3", "ogg", "k")
    now, window = utcnow(), timedelta(seconds=60)
    assert task.may_notify(now, window)
    task.notified_at = now - timedelta(seconds=59)
    assert not task.may_notify(now, window)
    task.notified_at = now - window
    assert task.may_notify(now, window)


def test_an_address_gets_at_most_so_many_mails_an_hour(deps: Dependencies, upload: Path) -> None:
    deps.settings = deps.settings.model_copy(update={"mail_per_address_per_hour": 3})
    user = member(deps)
    for _ in range(5):
        _finished(deps, user, upload)
        _deliver_all(deps)
    bodies = [body for _, _, body in _sent(deps)]
    assert len(bodies) == 3
    assert "This is the last of 3 mails this address may get within an hour" in bodies[-1]
    assert all("last of" not in body for body in bodies[:-1])
    assert all(t.notified_revision == 1 for t in _db(deps).tasks.rows.values())  # not again
    _clock(deps).advance(3600)
    _finished(deps, user, upload)
    _deliver_all(deps)
    assert len(_sent(deps)) == 4


def test_admit_counts_until_the_rule_blocks_then_not_at_all(deps: Dependencies) -> None:
    rule = Rule("t", free=2, base=timedelta(minutes=1), ceiling=timedelta(minutes=1))
    guard = rule.on("k")
    assert [throttling.admit(deps, guard) for _ in range(4)] == [1, 2, None, None]
    assert _db(deps).throttles.rows["t:k"].count == 2
    _clock(deps).advance(60)
    assert throttling.admit(deps, guard) == 3


# --- what is said: mails, messages, log lines -------------------------------------------


def test_the_link_mail_says_what_it_is_for(deps: Dependencies) -> None:
    deps.settings = deps.settings.model_copy(update={"public_url": "https://audio.example"})
    user = member(deps, verified=False)
    _real_time(deps)
    verification.send(deps, user.id or 0)
    ((to, subject, body),) = _sent(deps)
    assert (to, subject) == ("ann@example.com", "Confirm your e-mail address for audioconv")
    assert body == (
        "Hello ann,\n\n"
        "Someone, we hope you, signed up for audioconv with this address. To get a mail\n"
        "when your files are converted, confirm it by opening this link (it works for 48 "
        "hours):\n\n"
        f"{verification.link(deps, user)}\n\n"
        "If this was not you, ignore this mail: no other mail goes to this address.\n"
    )
    assert verification.link(deps, user).startswith(
        "https://audio.example/api/auth/verify-email?token=ey"
    )


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(172800, "48 hours"), (7200, "2 hours"), (7199, "119 minutes"), (120, "2 minutes"),
     (60, "1 minute"), (59, "1 minute")],
)  # fmt: skip
def test_a_links_lifetime_in_words(seconds: int, words: str) -> None:
    assert verification.lifetime(seconds) == words


def test_the_last_mail_of_the_hour_says_so(deps: Dependencies) -> None:
    deps.settings = deps.settings.model_copy(update={"mail_per_address_per_hour": 2})
    assert mail_quota.take(deps, "a@example.com") == ""
    assert mail_quota.take(deps, "a@example.com") == (
        "\n--\nThis is the last of 2 mails this address may get within an hour: no more will "
        "be sent to it for the next hour (your files still convert; see them on the page or "
        "with `audioconv tasks`).\n"
    )
    assert mail_quota.take(deps, "a@example.com") is None
    assert mail_quota.take(deps, "b@example.com") == ""  # another address: its own count


def test_refusals_say_why(deps: Dependencies) -> None:
    user = member(deps, verified=False)
    uid = user.id or 0
    _real_time(deps)
    with pytest.raises(NotFound, match=r"^no such user$"):
        verification.resend(deps, 99)
    with pytest.raises(NotFound, match=r"^no such user$"):
        accounts.confirm_password(deps, 99, "password1")
    token = verification.link_token(deps, user)
    profile.update_profile(deps, uid, email="ann@elsewhere.example")  # asks for one
    with pytest.raises(InvalidInput, match=r"^this verification link was sent to an address "
                       r"the account no longer has: ask for a new one$"):  # fmt: skip
        verification.verify(deps, token)
    verification.resend(deps, uid)
    with pytest.raises(TooManyRequests, match=r"^too many verification mails asked for; try "
                       r"again in 600 s$"):  # fmt: skip
        verification.resend(deps, uid)
    user.email_verified_at = deps.clock()
    _clock(deps).advance(3600)
    with pytest.raises(Conflict, match=r"^your e-mail address is verified already$"):
        verification.resend(deps, uid)


@pytest.mark.parametrize("missing", ["exp", "email", "sub", "aud"])
def test_a_link_missing_a_claim_is_refused(deps: Dependencies, missing: str) -> None:
    user = member(deps, verified=False)
    _real_time(deps)
    claims = jwt.decode(verification.link_token(deps, user), options={"verify_signature": False})
    del claims[missing]
    forged = jwt.encode(claims, verification._key(deps), algorithm="HS256")
    with pytest.raises(InvalidInput, match=r"^this is not a valid verification link$"):
        verification.verify(deps, forged)
    assert user.email_verified_at is None


def test_what_the_account_services_log(
    deps: Dependencies, upload: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="audioconv")
    user = member(deps, verified=False)
    uid = user.id or 0
    _real_time(deps)
    _bus(deps).down = True
    verification.publish(deps, uid)
    _bus(deps).down = False
    deps.settings = deps.settings.model_copy(update={"mail_per_address_per_hour": 1})
    verification.send(deps, uid)
    verification.send(deps, uid)  # the address had its mail for the hour

    class Refusing:
        def send(self, to: str, subject: str, body: str) -> None:
            raise MailRejected("550 no such user")

    mailer, deps.mailer = deps.mailer, Refusing()
    _clock(deps).advance(3600)
    verification.send(deps, uid)
    deps.mailer = mailer
    user.email_verified_at = deps.clock()
    verification.send(deps, uid)
    _real_time(deps)  # tokens are checked against the real clock
    mine, other = _caller(deps, user), _caller(deps, user)
    accounts.change_password(deps, mine, "password1", "password2")
    accounts.delete_account(deps, uid, "password2")
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("audioconv")]
    assert said == [
        (logging.ERROR, "asking for user 1's verification mail failed"),
        (logging.INFO, "mail held back: 1 mails went to that address within the hour"),
        (logging.WARNING, "verification mail for user 1 given up: 550 no such user"),
        (logging.INFO, "verification mail for user 1 not needed; dropped"),
        (logging.INFO, "user 1 changed their password; 1 other tokens revoked"),
        (logging.INFO, "user 1 deleted their account: {'tasks': 0, 'files': 0, 'batches': 0, "
         "'webhooks': 0, 'queuedMessages': 0, 'tokens': 1}"),
    ]  # fmt: skip
    assert other.token_id != mine.token_id


def test_the_password_checks_count_against_the_callers_address(deps: Dependencies) -> None:
    user = member(deps)
    _real_time(deps)
    mine = _caller(deps, user)
    for n in range(5):
        with pytest.raises(Forbidden):
            accounts.change_password(deps, mine, f"guess-{n}", "password2", "10.0.0.9")
    for attempt in (
        lambda: accounts.change_password(deps, mine, "password1", "password2", "10.0.0.9"),
        lambda: accounts.delete_account(deps, user.id or 0, "password1", "10.0.0.9"),
    ):
        with pytest.raises(TooManyRequests):
            attempt()
    # From elsewhere the owner is not locked out.
    assert accounts.change_password(deps, mine, "password1", "password2", "10.0.0.8") == 0


class _RacedThrottles(FakeThrottles):
    """Another process adds the key first, once: its add raises Conflict."""

    def __init__(self) -> None:
        super().__init__()
        self.raced = False

    def add(self, throttle: Throttle) -> None:
        if not self.raced:
            self.raced = True
            raise Conflict("that already exists")
        super().add(throttle)


def test_admit_tries_again_when_another_process_added_the_key_first(deps: Dependencies) -> None:
    _db(deps).throttles = _RacedThrottles()
    rule = Rule("t", free=5)
    assert throttling.admit(deps, rule.on("k")) == 1

    class AlwaysRaced(FakeThrottles):
        def add(self, throttle: Throttle) -> None:
            raise Conflict("that already exists")

    _db(deps).throttles = AlwaysRaced()
    with pytest.raises(Conflict):
        throttling.admit(deps, rule.on("k"))


def test_a_repeated_finished_event_is_told_once_without_a_window(
    deps: Dependencies, upload: Path, caplog: pytest.LogCaptureFixture
) -> None:
    deps.settings = deps.settings.model_copy(update={"notify_window_seconds": 0})
    user = member(deps)
    task = _finished(deps, user, upload)
    for _ in range(2):  # at least once: the same announcement twice
        notification.notify(deps, TaskRef.of(task))
    assert len(_sent(deps)) == 1


def test_a_deferred_notification_says_when_it_comes(
    deps: Dependencies, upload: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = member(deps)
    task = _finished(deps, user, upload)
    _deliver_all(deps)
    _convert_again(deps, task, "mp3")
    caplog.set_level(logging.INFO, logger="audioconv.services.notification")
    notification.notify(deps, TaskRef.of(task))
    assert [r.getMessage() for r in caplog.records] == [
        f"task {task.id} r2: its owner was told less than 60 s ago; told after that"
    ]


def test_an_address_is_named_by_a_hash_and_blocked_for_an_hour(deps: Dependencies) -> None:
    deps.settings = deps.settings.model_copy(update={"mail_per_address_per_hour": 1})
    digest = hashlib.sha256(b"a@example.com").hexdigest()
    assert address_key("a@example.com") == digest[:40]
    assert mail_quota.take(deps, "a@example.com") is not None
    assert set(_db(deps).throttles.rows) == {f"mail-to:{digest[:40]}"}
    _clock(deps).advance(3599)
    assert mail_quota.take(deps, "a@example.com") is None
    _clock(deps).advance(1)
    assert mail_quota.take(deps, "a@example.com") is not None
