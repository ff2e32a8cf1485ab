"""Issue 23's rules on fakes of the ports: API keys (hash, scopes, last use, throttle),
presets (merge under an upload's own fields) and expiry (the sweep's deletions)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audioconv.domain.api_key import (
    KEY_FROM_ADDRESS,
    ApiKey,
    Scope,
    hashing_key,
    key_hash,
    looks_like_key,
    new_key,
    well_formed,
)
from audioconv.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from audioconv.domain.options import ConversionOptions
from audioconv.domain.preset import Preset
from audioconv.entrypoints import key_scopes
from audioconv.services import api_keys, auth, expiry, presets, tasks
from audioconv.services.dependencies import Dependencies
from tests.unit.fakes import Clock, FakeBlobs, member


def _key(scopes: list[str]) -> ApiKey:
    return ApiKey(user_id=1, name="k", prefix="ak_live_00000000", secret_hash="h", scopes=scopes)


def test_a_new_key_is_random_well_formed_and_hashed_under_the_servers_key() -> None:
    one, two = new_key(), new_key()
    assert one != two and well_formed(one) and looks_like_key(one)
    assert not well_formed(one.upper()) and not well_formed(one[:-1])
    server = hashing_key("signing key one")
    assert key_hash(server, one) == key_hash(server, one) != key_hash(server, two)
    assert key_hash(server, one) != key_hash(hashing_key("signing key two"), one)
    assert one[8:] not in key_hash(server, one)


@pytest.mark.parametrize(
    ("scopes", "read", "convert"),
    [(["read"], True, False), (["convert"], True, True), (["read", "convert"], True, True),
     (["admin"], False, False), ([], False, False)],
)  # fmt: skip
def test_convert_includes_read_and_unknown_scopes_allow_nothing(
    scopes: list[str], read: bool, convert: bool
) -> None:
    key = _key(scopes)
    assert (key.allows(Scope.READ), key.allows(Scope.CONVERT)) == (read, convert)


def test_the_scope_table_refuses_keys_wherever_it_says_nothing() -> None:
    token = auth.Caller(1, "t" * 32)
    read = auth.Caller(1, "", _key(["read"]))
    key_scopes.check(token, "revoke_api_key")  # a log-in token may do anything
    key_scopes.check(read, "get_task")
    with pytest.raises(Forbidden, match="log-in token"):
        key_scopes.check(read, "revoke_api_key")
    with pytest.raises(Forbidden, match="log-in token"):
        key_scopes.check(read, None)
    with pytest.raises(Forbidden, match="'convert'"):
        key_scopes.check(read, "create_task")


def test_a_key_stands_for_its_user_until_revoked(deps: Dependencies) -> None:
    user = member(deps)
    assert user.id is not None
    record, key = api_keys.create(deps, user.id, " cron ", [Scope.READ, Scope.READ])
    assert record.scopes == ["read"] and record.name == "cron"
    found = auth.caller(deps, f"Bearer {key}", "192.0.2.1")
    assert (found.user_id, found.token_id, found.api_key and found.api_key.id) == (
        user.id, "", record.id,
    )  # fmt: skip
    assert record.id is not None
    with pytest.raises(NotFound):
        api_keys.revoke(deps, user.id + 1, record.id)  # not someone else's to revoke
    api_keys.revoke(deps, user.id, record.id)
    with pytest.raises(Unauthorized, match="invalid or revoked API key"):
        auth.caller(deps, f"Bearer {key}", "192.0.2.1")


def test_last_use_is_written_once_a_minute(deps: Dependencies) -> None:
    user = member(deps)
    assert user.id is not None and isinstance(deps.clock, Clock)
    _, key = api_keys.create(deps, user.id, "cron", [Scope.READ])
    first = deps.clock()
    api_keys.authenticate(deps, key)
    deps.clock.advance(59)
    api_keys.authenticate(deps, key)
    [stored] = api_keys.list_keys(deps, user.id)
    assert stored.last_used_at == first
    deps.clock.advance(1)
    api_keys.authenticate(deps, key)
    assert api_keys.list_keys(deps, user.id)[0].last_used_at == first + timedelta(seconds=60)


def test_wrong_keys_from_one_address_are_throttled(deps: Dependencies) -> None:
    user = member(deps)
    assert user.id is not None
    _, key = api_keys.create(deps, user.id, "cron", [Scope.READ])
    for _ in range(KEY_FROM_ADDRESS.free):
        with pytest.raises(Unauthorized):
            api_keys.authenticate(deps, new_key(), "198.51.100.7")
    with pytest.raises(TooManyRequests):
        api_keys.authenticate(deps, key, "198.51.100.7")  # even a right key, meanwhile
    assert api_keys.authenticate(deps, key, "198.51.100.8").user_id == user.id


def test_the_uploads_own_fields_win_over_the_presets() -> None:
    preset = Preset(1, "p", "mp3", {"quality": "high", "channels": 1})
    assert preset.merged({}) == {"newFormat": "mp3", "quality": "high", "channels": 1}
    assert preset.merged({"newFormat": "", "channels": "2"}) == {
        "newFormat": "mp3", "quality": "high", "channels": "2",
    }  # fmt: skip
    assert preset.merged({"bitrate": "96"}) == {"newFormat": "mp3", "channels": 1, "bitrate": "96"}
    bitrate = Preset(1, "b", "mp3", {"bitrate": 128})
    assert bitrate.merged({"quality": "low"}) == {"newFormat": "mp3", "quality": "low"}


def test_a_change_replaces_name_format_and_options_and_keeps_the_rest() -> None:
    made = datetime(2026, 1, 1, tzinfo=UTC)
    preset = Preset(1, "p", "mp3", {"quality": "high", "channels": 1}, id=7,
                    created_at=made, updated_at=made)  # fmt: skip
    options = {"bitrate": 48}
    preset.change("voice", "opus", options, made + timedelta(hours=1))
    assert (preset.name, preset.output_format, preset.options) == ("voice", "opus", {"bitrate": 48})
    assert preset.updated_at == made + timedelta(hours=1)
    assert (preset.id, preset.user_id, preset.created_at) == (7, 1, made)
    options["bitrate"] = 64  # the caller's mapping is not the preset's
    assert preset.options == {"bitrate": 48}


def test_the_service_takes_typed_values_and_checks_them_as_an_uploads(
    deps: Dependencies,
) -> None:
    ann = member(deps, "ann")
    assert ann.id is not None and isinstance(deps.clock, Clock)
    made = presets.create(deps, ann.id, "  talk ", "MP3", ConversionOptions(channels=1))
    assert (made.name, made.output_format, made.options) == ("talk", "mp3", {"channels": 1})
    deps.clock.advance(60)
    changed = presets.update(deps, ann.id, made.id or 0, "talk", "opus", ConversionOptions())
    assert (changed.output_format, changed.options) == ("opus", {})
    assert changed.updated_at == made.created_at + timedelta(seconds=60)
    assert presets.get(deps, ann.id, made.id or 0).output_format == "opus"
    with pytest.raises(InvalidInput, match="flac is lossless"):
        presets.create(deps, ann.id, "x", "flac", ConversionOptions(bitrate=128))
    with pytest.raises(InvalidInput, match="missing field 'name'"):
        presets.update(deps, ann.id, made.id or 0, "  ", "mp3", ConversionOptions())
    with pytest.raises(Conflict, match="already have a preset named 'talk'"):
        presets.create(deps, ann.id, "talk", "mp3", ConversionOptions())


def test_apply_names_only_the_callers_presets(deps: Dependencies) -> None:
    ann, bob = member(deps, "ann"), member(deps, "bob")
    assert ann.id is not None and bob.id is not None
    presets.create(deps, ann.id, "p", "opus", ConversionOptions(bitrate=64))
    assert presets.apply(deps, ann.id, {"preset": "p", "channels": "1"}) == {
        "newFormat": "opus", "bitrate": 64, "channels": "1",
    }  # fmt: skip
    assert presets.apply(deps, ann.id, {"newFormat": "mp3"}) == {"newFormat": "mp3"}
    with pytest.raises(NotFound, match="no preset named 'p'"):
        presets.apply(deps, bob.id, {"preset": "p"})


def test_the_sweep_deletes_expired_tasks_with_their_files(deps: Dependencies, upload: Path) -> None:
    kept = replace(deps, settings=deps.settings.model_copy(update={"retention_hours": 1}))
    user = member(kept)
    assert user.id is not None and isinstance(deps.clock, Clock)
    old = tasks.create_task(kept, user.id, upload, "a.mp3", "wav")
    assert old.expires_at == deps.clock() + timedelta(hours=1)
    deps.clock.advance(1800)
    upload.write_bytes(b"AUDIO more samples")
    young = tasks.create_task(kept, user.id, upload, "b.mp3", "wav")
    blobs = deps.blobs
    assert isinstance(blobs, FakeBlobs) and old.input_key in blobs.files
    deps.clock.advance(1800)
    assert expiry.expire_tasks(kept) == 1
    assert old.input_key not in blobs.files and young.input_key in blobs.files
    with deps.uow(readonly=True) as uow:
        assert [t.id for t in uow.tasks.for_user(user.id, None, False)] == [young.id]
    assert expiry.expire_tasks(deps) == 0  # retention off: nothing goes, times go
    with deps.uow(readonly=True) as uow:
        assert uow.tasks.get(young.id or 0).expires_at is None  # type: ignore[union-attr]
