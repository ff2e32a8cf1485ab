"""The services' rules at their edges, on fakes: sign-up limits and texts, target formats
and options, file names, downloads, and uploads that fail half-way."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import pytest

from audioconv.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
    UnsupportedMedia,
)
from audioconv.domain.identity import MAX_EMAIL_CHARS, MAX_USERNAME_CHARS
from audioconv.domain.model import TaskStatus
from audioconv.domain.options import ConversionOptions, requested_options
from audioconv.ports import Probe
from audioconv.services import auth, conversion, direct_uploads, report, tasks
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.unit.fakes import (
    Clock,
    FakeBlobs,
    FakeBus,
    FakeTasks,
    FakeTranscoder,
    FakeUnitOfWork,
    member,
)

NO_OPTIONS = ConversionOptions()
PASSWORD = "password1"


def _signup(deps: Dependencies, username: str = "ann", email: str = "ann@example.com",
            password1: str = PASSWORD, password2: str | None = None) -> Any:  # fmt: skip
    return auth.signup(deps, username, email, password1,
                       password1 if password2 is None else password2)  # fmt: skip


def _user(deps: Dependencies, name: str = "ann") -> int:
    user = member(deps, name)
    assert user.id is not None
    return int(user.id)


def _blobs(deps: Dependencies) -> FakeBlobs:
    return cast(FakeBlobs, deps.blobs)


def _bus(deps: Dependencies) -> FakeBus:
    return cast(FakeBus, deps.bus)


def _email_of_length(length: int) -> str:
    """A valid address of exactly ``length`` characters (labels of at most 63)."""
    local = "a" * 64
    labels, left = [], length - len(local) - 1
    while left > 0:
        label = min(63, left if not labels else left - 1)
        labels.append("b" * label)
        left -= label + (1 if len(labels) > 1 else 0)
    address = f"{local}@{'.'.join(labels)}"
    assert len(address) == length
    return address


# --- sign-up and log-in --------------------------------------------------------------------


@pytest.mark.parametrize("username", ["", "   "])
def test_an_empty_username_is_refused(deps: Dependencies, username: str) -> None:
    with pytest.raises(InvalidInput, match=f"^username must be 1 to {MAX_USERNAME_CHARS} char"):
        _signup(deps, username)


def test_usernames_are_capped_at_their_limit(deps: Dependencies) -> None:
    longest = "u" * MAX_USERNAME_CHARS
    assert _signup(deps, longest, "long@example.com").username == longest
    with pytest.raises(InvalidInput, match=r"^username must be 1 to 150 characters$"):
        _signup(deps, longest + "u", "longer@example.com")
    assert _signup(deps, "u", "short@example.com").username == "u"


def test_emails_are_capped_at_their_limit(deps: Dependencies) -> None:
    longest = _email_of_length(MAX_EMAIL_CHARS)
    assert _signup(deps, "ann", longest).email == longest
    with pytest.raises(InvalidInput, match=r"^email must be at most 254 characters$"):
        _signup(deps, "bob", _email_of_length(MAX_EMAIL_CHARS + 1))


def test_passwords_are_checked_at_both_ends(deps: Dependencies) -> None:
    with pytest.raises(InvalidInput, match=r"^password must be at least 8 characters$"):
        _signup(deps, "ann", "ann@example.com", "x" * 7)
    with pytest.raises(InvalidInput, match=r"^password must be at most 1024 characters$"):
        _signup(deps, "ann", "ann@example.com", "x" * 1025)
    with pytest.raises(InvalidInput, match=r"^passwords do not match$"):
        _signup(deps, "ann", "ann@example.com", "x" * 8, "x" * 7 + "y")
    assert _signup(deps, "ann", "ann@example.com", "x" * 8).id is not None
    assert _signup(deps, "bob", "bob@example.com", "y" * 1024).id is not None
    assert auth.login(deps, "bob", "y" * 1024).username == "bob"


def test_a_taken_username_or_email_is_a_conflict_saying_which(deps: Dependencies) -> None:
    _user(deps)
    with pytest.raises(Conflict, match=r"^username is already taken$"):
        _signup(deps, "ANN", "other@example.com")
    with pytest.raises(Conflict, match=r"^email is already registered$"):
        _signup(deps, "bob", "Ann@Example.com")
    users = cast(FakeUnitOfWork, deps.uow()).users
    assert [u.username for u in users.rows.values()] == ["ann"]


def test_a_new_account_is_stored_as_normalised(deps: Dependencies) -> None:
    user = _signup(deps, " Ann ", "Ann@Example.COM")
    assert (user.username, user.email, user.created_at) == ("ann", "ann@example.com", deps.clock())
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert auth.login(deps, "ANN", PASSWORD).id == user.id


def test_a_failed_login_says_only_that_it_failed(deps: Dependencies) -> None:
    _user(deps)
    for username, password in (("ann", "wrong password"), ("nobody", PASSWORD)):
        with pytest.raises(Unauthorized) as refused:
            auth.login(deps, username, password)
        assert refused.value.message == "invalid username or password"


def test_sign_ups_from_one_address_are_slowed_down(deps: Dependencies) -> None:
    def signup(name: str, address: str) -> Any:
        return auth.signup(deps, name, f"{name}@example.com", PASSWORD, PASSWORD, address)

    for n in range(20):
        signup(f"u{n}", "10.0.0.1")
    with pytest.raises(TooManyRequests) as slowed:
        signup("late", "10.0.0.1")
    assert slowed.value.message == "too many sign-ups from your address; try again in 30 s"
    assert slowed.value.retry_after == 30
    assert signup("elsewhere", "10.0.0.2").username == "elsewhere"
    cast(Clock, deps.clock).advance(30)
    assert signup("late", "10.0.0.1").username == "late"


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [("", "missing bearer token"), ("Basic abc", "missing bearer token"),
     ("Bearer ", "missing bearer token"), ("Bearer not.a.jwt", "invalid token")],
)  # fmt: skip
def test_tokens_are_refused_with_a_reason(
    deps: Dependencies, authorization: str, reason: str
) -> None:
    with pytest.raises(Unauthorized, match=reason):
        auth.authenticate(deps, authorization)


# --- target formats and options ------------------------------------------------------------


@pytest.mark.parametrize("new_format", [".mp3", "MP3", " mp3 ", ".MP3"])
def test_the_target_format_is_read_as_people_write_it(
    deps: Dependencies, upload: Path, new_format: str
) -> None:
    task = tasks.create_task(deps, _user(deps), upload, "song.flac", new_format)
    assert (task.output_format, task.output_name) == ("mp3", "song.mp3")


@pytest.mark.parametrize("new_format", ["", "exe", "mp3x", "..mp3x"])
def test_an_unknown_target_format_lists_the_known_ones(
    deps: Dependencies, upload: Path, new_format: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        tasks.create_task(deps, _user(deps), upload, "song.flac", new_format)
    assert refused.value.message == (
        f"unknown format {new_format!r}; supported: aac, aiff, alac, flac, m4a, mp3, ogg, "
        "opus, wav, wma"
    )
    assert _blobs(deps).files == {} and _bus(deps).published == []


def test_options_are_checked_and_stored_with_the_task(deps: Dependencies, upload: Path) -> None:
    uid = _user(deps)
    task = tasks.create_task(
        deps, uid, upload, "a.flac", "mp3", requested_options({"bitrate": "192k"})
    )
    assert task.options.as_json() == {"bitrate": 192}
    with pytest.raises(InvalidInput, match=r"^wav is lossless: it has no bitrate to choose$"):
        tasks.create_task(deps, uid, upload, "a.flac", "wav", requested_options({"bitrate": "192"}))
    assert tasks.create_task(deps, uid, upload, "a.flac", "wav", None).options.as_json() is None


# --- file names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kept"),
    [("..", "audio"), ("...", "audio"), ("", "audio"), (" . ", "audio"),
     ("song.mp3.", "song.mp3"), ("song.mp3. . ", "song.mp3"), (" .song.mp3", "song.mp3"),
     ("Xmas Song.mp3", "Xmas Song.mp3"), ("../../etc/passwd", "passwd"),
     ("C:\\Music\\song.wav", "song.wav"), ("a<b>|c.mp3", "a_b_c.mp3"),
     ("tab\there.mp3", "tab_here.mp3"), ("Cafe\u0301.mp3", "Caf\u00e9.mp3"),
     ("(live) [2019] Tom & Jerry's, +1.flac", "(live) [2019] Tom & Jerry's, +1.flac")],
)  # fmt: skip
def test_file_names_lose_folders_odd_symbols_and_edge_dots(given: str, kept: str) -> None:
    assert tasks.safe_file_name(given) == kept


@pytest.mark.parametrize(
    ("given", "kept"),
    [("a" * 195 + ". " + "z" * 100 + ".mp3", "a" * 195 + ".mp3"),  # no dot before the extension
     ("x" * 250 + "." + "y" * 20, "x" * 200),  # no extension that long: cut as one stem
     ("x" * 250 + "." + "y" * 16, "x" * 183 + "." + "y" * 16),
     ("." + "e" * 300, "e" * 200), ("\u00e9" * 150, "\u00e9" * 100)],
)  # fmt: skip
def test_long_file_names_are_cut_to_the_byte_limit(given: str, kept: str) -> None:
    assert tasks.safe_file_name(given) == kept
    assert len(kept.encode()) <= tasks.MAX_FILE_NAME_BYTES


def test_names_of_exactly_the_limit_are_kept_whole() -> None:
    exact = "\u00e9" * 98 + ".mp3"  # 196 + 4 bytes
    assert len(exact.encode()) == tasks.MAX_FILE_NAME_BYTES
    assert tasks.safe_file_name(exact) == exact
    assert tasks.safe_file_name("\u00e9" * 99 + ".mp3") == "\u00e9" * 98 + ".mp3"


def test_control_characters_are_found_anywhere() -> None:
    assert tasks.has_control_characters("a\x00b") and tasks.has_control_characters("\x1b[31m")
    assert not tasks.has_control_characters("Caf\u00e9 (live).mp3")


# --- uploads that fail half-way ------------------------------------------------------------


class _RefusingTasks(FakeTasks):
    def add(self, task: Any) -> None:
        raise OSError("the database went away")


def test_an_upload_whose_task_is_not_recorded_leaves_no_file(
    deps: Dependencies, upload: Path
) -> None:
    uid = _user(deps)
    cast(FakeUnitOfWork, deps.uow()).tasks = _RefusingTasks()
    with pytest.raises(OSError, match="database went away"):
        tasks.create_task(deps, uid, upload, "song.mp3", "ogg")
    assert _blobs(deps).files == {} and _bus(deps).published == []


class _UnknownAudio(FakeTranscoder):
    """Reads the file but finds audio in a container we do not take."""

    def probe(self, path: Path, limits: bool = True) -> Probe:
        return Probe(None, "xyz", "abc", 1.0, None, None, None, {})


def test_audio_in_a_format_we_do_not_read_is_a_415_naming_it(
    deps: Dependencies, upload: Path
) -> None:
    deps.transcoder = _UnknownAudio()
    with pytest.raises(UnsupportedMedia) as refused:
        tasks.create_task(deps, _user(deps), upload, "song.xyz", "ogg")
    assert refused.value.message == "audio in xyz/abc is not a format we read"
    assert _blobs(deps).files == {}


def test_quotas_are_checked_before_anything_is_stored(deps: Dependencies, upload: Path) -> None:
    size = upload.stat().st_size
    # Room for one input and its output to come (the output's upper bound), just.
    bound, _ = tasks.predicted_output(deps, deps.transcoder.probe(upload), size, "ogg", NO_OPTIONS)
    quota = size + bound + 10
    deps.settings = deps.settings.model_copy(update={"quota_tasks_in_flight": 1,
                                                     "quota_stored_bytes": quota})  # fmt: skip
    uid = _user(deps)
    first = tasks.create_task(deps, uid, upload, "a.mp3", "ogg")
    assert first.reserved_bytes == bound
    with pytest.raises(TooManyRequests) as busy:
        tasks.create_task(deps, uid, upload, "b.mp3", "ogg")
    assert busy.value.message == (
        "you have 1 conversions waiting or running, the limit is 1; "
        "send more when some have finished"
    )
    conversion.convert(deps, TaskRef(first.id or 0, 1))
    report.run_report(deps, TaskRef(first.id or 0, 1))
    stored = first.input_bytes + first.output_bytes
    with pytest.raises(PayloadTooLarge) as full:
        tasks.create_task(deps, uid, upload, "b.mp3", "ogg")
    assert full.value.message == (
        f"your files would take up to {stored + size + bound} bytes (uploads, converted "
        "files and room for the conversions still running), over your storage quota of "
        f"{quota} bytes; delete some tasks, or choose a smaller output format"
    )
    assert set(_blobs(deps).files) == {first.input_key, first.output_key, first.waveform_key}
    tasks.delete_task(deps, uid, first.id or 0)
    assert tasks.create_task(deps, uid, upload, "c.mp3", "ogg").input_bytes == size


# --- downloads ----------------------------------------------------------------------------


def test_the_original_download_keeps_its_name_and_is_sent_as_bytes(
    deps: Dependencies, upload: Path
) -> None:
    uid = _user(deps)
    task = tasks.create_task(deps, uid, upload, "My Song.flac", "mp3")
    original = tasks.task_download(deps, uid, task.id or 0, "original")
    expected = (task.input_key, "My Song.flac", "application/octet-stream", upload.stat().st_size)
    assert (original.key, original.name, original.mime_type, original.size) == expected
    assert original.url is None  # the fake store signs no URLs: the API streams it
    assert tasks.file_download(deps, uid, "My Song.flac") == original


def test_the_converted_download_has_the_new_name_and_type(deps: Dependencies, upload: Path) -> None:
    uid = _user(deps)
    task = tasks.create_task(deps, uid, upload, "My Song.flac", "opus")
    with pytest.raises(Conflict, match=f"^task {task.id} is uploaded, not processed yet$"):
        tasks.task_download(deps, uid, task.id or 0, "converted")
    with pytest.raises(Conflict):  # the converted name asks for the converted file alone
        tasks.file_download(deps, uid, "My Song.opus")
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    converted = tasks.task_download(deps, uid, task.id or 0, "converted")
    assert (converted.key, converted.name, converted.mime_type) == (
        task.output_key, "My Song.opus", "audio/ogg; codecs=opus")  # fmt: skip
    assert converted.size == len(_blobs(deps).files[task.output_key or ""])
    # Once converted, the original name gives the converted file too; the original stays.
    assert tasks.file_download(deps, uid, "My Song.flac") == converted
    assert tasks.file_download(deps, uid, "My Song.opus") == converted
    assert tasks.task_download(deps, uid, task.id or 0, "original").name == "My Song.flac"


def test_downloads_of_what_is_not_there_are_not_found(deps: Dependencies, upload: Path) -> None:
    uid = _user(deps)
    task = tasks.create_task(deps, uid, upload, "a.flac", "mp3")
    with pytest.raises(NotFound, match=r"^no file 'input'; use 'original' or 'converted'$"):
        tasks.task_download(deps, uid, task.id or 0, "input")
    with pytest.raises(NotFound, match=r"^no file named 'b.flac'$"):
        tasks.file_download(deps, uid, "b.flac")
    with pytest.raises(NotFound, match="no file named"):
        tasks.file_download(deps, uid, "a.flac\x00")
    with pytest.raises(NotFound, match=f"^no task {task.id}$"):
        tasks.task_download(deps, _user(deps, "bob"), task.id or 0, "original")
    del _blobs(deps).files[task.input_key]
    with pytest.raises(NotFound, match=r"^the file 'a.flac' is no longer stored$"):
        tasks.task_download(deps, uid, task.id or 0, "original")


# --- direct uploads -------------------------------------------------------------------------


def _direct(deps: Dependencies, upload: Path, uid: int, options: dict[str, Any]) -> Any:
    ticket = direct_uploads.start(deps, uid, "song.wav", "mp3", requested_options(options or {}))
    key = unquote(urlsplit(ticket.url).path).removeprefix("/")
    _blobs(deps).files[key] = upload.read_bytes()  # the client's PUT
    return direct_uploads.finalize(deps, key)


@pytest.mark.parametrize(
    ("options", "stored"),
    [({"quality": "high"}, {"quality": "high"}), ({"quality": " Best "}, {"quality": "best"}),
     ({"bitrate": "96k", "sampleRate": "22050", "channels": 1},
      {"bitrate": 96, "sampleRate": 22050, "channels": 1}),
     ({}, None)],
)  # fmt: skip
def test_direct_uploads_carry_their_options_numbers_and_words(
    deps: Dependencies, upload: Path, options: dict[str, Any], stored: dict[str, Any] | None
) -> None:
    task = _direct(deps, upload, _user(deps), options)
    assert task is not None and task.options.as_json() == stored
    assert (task.status, task.file_name, task.output_format) == (
        TaskStatus.UPLOADED, "song.wav", "mp3")  # fmt: skip
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    (job,) = cast(FakeTranscoder, deps.transcoder).jobs  # what the worker converted with
    assert job.options.as_json() == stored


def test_a_direct_upload_key_reads_back_as_it_was_made() -> None:
    made = direct_uploads.DirectKey(
        12, "f" * 32, "ogg", "a b.wav", {"quality": "low", "channels": 2}
    )
    assert made.key == f"direct-uploads/12/{'f' * 32}/ogg+channels=2+quality=low/a b.wav"
    assert direct_uploads.DirectKey.parse(made.key) == made
    plain = direct_uploads.DirectKey(3, "0" * 32, "wav", "x.flac")
    assert direct_uploads.DirectKey.parse(plain.key) == plain
    with pytest.raises(ValueError, match="not a direct upload key"):
        direct_uploads.DirectKey.parse("uploads/3/x.flac")


# --- log-in throttling, hashes and tokens ----------------------------------------------------


def test_wrong_passwords_slow_the_guesser_and_a_success_forgives_the_account(
    deps: Dependencies,
) -> None:
    _user(deps)
    clock = cast(Clock, deps.clock)
    for _ in range(5):
        with pytest.raises(Unauthorized):
            auth.login(deps, "ann", "wrong password", "10.0.0.9")
    with pytest.raises(TooManyRequests) as slowed:
        auth.login(deps, "ann", PASSWORD, "10.0.0.9")  # even the right one waits
    assert slowed.value.message == "too many failed log-ins; try again in 1 s"
    assert auth.login(deps, "ann", PASSWORD, "10.0.0.1").username == "ann"  # the owner
    clock.advance(1)
    assert auth.login(deps, "ann", PASSWORD, "10.0.0.9").username == "ann"
    throttles = cast(FakeUnitOfWork, deps.uow()).throttles
    # The account's counts are forgiven; the guessing address's own count stays.
    assert sorted(throttles.rows) == ["login-ip:10.0.0.9", "signup-ip:"]
    assert throttles.rows["login-ip:10.0.0.9"].count == 5
    for _ in range(4):  # forgiven: four more wrong guesses are not slowed down
        with pytest.raises(Unauthorized):
            auth.login(deps, "ann", "wrong password", "10.0.0.9")


def test_an_unknown_user_is_counted_like_a_wrong_password(deps: Dependencies) -> None:
    for _ in range(5):
        with pytest.raises(Unauthorized):
            auth.login(deps, "nobody", PASSWORD, "10.0.0.9")
    with pytest.raises(TooManyRequests):
        auth.login(deps, "nobody", PASSWORD, "10.0.0.9")


def test_a_hash_made_with_older_parameters_is_upgraded_at_log_in(deps: Dependencies) -> None:
    from argon2 import PasswordHasher

    user = _signup(deps)
    user.password_hash = old = PasswordHasher(time_cost=3).hash(PASSWORD)
    assert auth.login(deps, "ann", PASSWORD).id == user.id
    assert user.password_hash != old and "m=19456,t=2,p=1" in user.password_hash
    assert auth.login(deps, "ann", PASSWORD).password_hash == user.password_hash


def test_a_token_names_its_user_until_it_expires(deps: Dependencies) -> None:
    import jwt

    from audioconv.domain.model import utcnow

    user = _signup(deps)
    cast(Clock, deps.clock).now = now = utcnow().replace(microsecond=0)
    token = auth.issue_token(deps, user)
    claims = jwt.decode(token, deps.settings.signing_key, algorithms=["HS256"])
    ttl = deps.settings.token_ttl_seconds
    jti = claims.pop("jti")
    assert claims == {"sub": str(user.id), "iat": int(now.timestamp()),
                      "exp": int(now.timestamp()) + ttl}  # fmt: skip
    assert auth.authenticate(deps, f"bearer  {token} ") == user.id
    assert auth.caller(deps, f"Bearer {token}") == auth.Caller(user.id or 0, jti)

    def forged(**claims: object) -> str:
        return "Bearer " + jwt.encode(claims, deps.settings.signing_key, algorithm="HS256")

    exp = now.timestamp() + 60
    for sub in ("x", "0", str(2**31)):  # not a number, out of range
        with pytest.raises(Unauthorized, match=r"^invalid token$"):
            auth.authenticate(deps, forged(sub=sub, exp=exp, jti=jti))
    for jti_claim in (7, "x" * 31, "x" * 33):  # not a token id
        with pytest.raises(Unauthorized, match=r"^invalid token$"):
            auth.authenticate(deps, forged(sub=str(user.id), exp=exp, jti=jti_claim))
    with pytest.raises(Unauthorized, match=r"^token has been revoked"):  # another's record
        auth.authenticate(deps, forged(sub=str(member(deps, "bob").id), exp=exp, jti=jti))
    with pytest.raises(Unauthorized, match=r"^token has been revoked"):  # no record
        auth.authenticate(deps, forged(sub=str(user.id), exp=exp, jti="0" * 32))
    with pytest.raises(Unauthorized, match=r"^token was issued before tokens could be revoked"):
        auth.authenticate(deps, forged(sub=str(user.id), exp=exp))  # no jti: older tokens
    with pytest.raises(Unauthorized, match=r"^invalid token$"):
        auth.authenticate(deps, forged(sub=str(user.id), jti=jti))  # no expiry
    with pytest.raises(Unauthorized, match=r"^token has expired; log in again$"):
        auth.authenticate(deps, forged(sub=str(user.id), exp=now.timestamp() - 60, jti=jti))
    with pytest.raises(Unauthorized, match=r"^missing bearer token: send 'Authorization: Bearer"):
        auth.authenticate(deps, token)


def test_closing_releases_what_the_adapters_hold_last_first(deps: Dependencies) -> None:
    released: list[str] = []
    deps.on_close += [lambda: released.append("pool"), lambda: released.append("threads")]
    deps.close()
    assert released == ["threads", "pool"]


# --- listing and reading tasks ----------------------------------------------------------------


def test_each_user_lists_and_reads_only_their_own_tasks(deps: Dependencies, upload: Path) -> None:
    ann, bob = _user(deps), _user(deps, "bob")
    made = [tasks.create_task(deps, ann, upload, f"{n}.mp3", "ogg") for n in "abc"]
    theirs = tasks.create_task(deps, bob, upload, "b.mp3", "ogg")
    ids = [t.id for t in made]
    assert [t.id for t in tasks.list_tasks(deps, ann, None, descending=False)] == ids
    assert [t.id for t in tasks.list_tasks(deps, ann, None, descending=True)] == ids[::-1]
    assert [t.id for t in tasks.list_tasks(deps, ann, 2, descending=True)] == ids[:0:-1]
    assert [t.id for t in tasks.list_tasks(deps, bob, 10, descending=False)] == [theirs.id]
    assert tasks.get_task(deps, ann, made[1].id or 0) is made[1]
    for task_id in (theirs.id or 0, 0, -1, 2**31, 999):
        with pytest.raises(NotFound, match=rf"^no task {task_id}$"):
            tasks.get_task(deps, ann, task_id)
    with pytest.raises(NotFound):
        tasks.delete_task(deps, ann, theirs.id or 0)
    with pytest.raises(NotFound):
        tasks.change_format(deps, ann, theirs.id or 0, "wav")
    assert tasks.get_task(deps, bob, theirs.id or 0).output_format == "ogg"


class _SigningBlobs(FakeBlobs):
    """A store that signs download URLs, as Cloud Storage does."""

    def signed_get_url(
        self, key: str, filename: str, content_type: str, ttl_seconds: int
    ) -> str | None:
        return f"https://storage.test/{key}?name={filename}&type={content_type}&ttl={ttl_seconds}"


def test_downloads_from_a_signing_store_carry_a_signed_url(
    deps: Dependencies, upload: Path
) -> None:
    deps.blobs = _SigningBlobs()
    uid = _user(deps)
    task = tasks.create_task(deps, uid, upload, "My Song.flac", "mp3")
    ttl = deps.settings.download_url_ttl_seconds
    original = tasks.task_download(deps, uid, task.id or 0, "original")
    assert original.url == (f"https://storage.test/{task.input_key}?name=My Song.flac"
                            f"&type=application/octet-stream&ttl={ttl}")  # fmt: skip
    conversion.convert(deps, TaskRef(task.id or 0, 1))
    converted = tasks.file_download(deps, uid, "My Song.mp3")
    assert converted.url == (f"https://storage.test/{task.output_key}?name=My Song.mp3"
                             f"&type=audio/mpeg&ttl={ttl}")  # fmt: skip
    assert converted.size == len(_blobs(deps).files[task.output_key or ""])
