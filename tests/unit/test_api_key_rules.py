"""API keys on fakes, the rules test_keys_presets_expiry.py leaves out: who may revoke a
key, what each refusal says, and what the operator's log says of each key made or
revoked (never the key itself)."""

from __future__ import annotations

import logging

import pytest

from audioconv.domain.api_key import MAX_KEYS_PER_USER, PREFIX_CHARS
from audioconv.domain.errors import Conflict, InvalidInput, NotFound
from audioconv.services import api_keys
from audioconv.services.dependencies import Dependencies
from tests.unit.fakes import user_id


def test_only_the_owner_revokes_a_key_and_the_log_says_so(
    deps: Dependencies, caplog: pytest.LogCaptureFixture
) -> None:
    ann, bob = user_id(deps), user_id(deps, "bob")
    caplog.set_level(logging.INFO, logger="audioconv.services.api_keys")
    record, key = api_keys.create(deps, ann, " nightly job ", ["convert", "read", "convert"])
    assert (record.name, record.scopes) == ("nightly job", ["convert", "read"])
    for stranger, key_id in ((bob, record.id or 0), (ann, 0), (ann, -1), (ann, 2**63)):
        with pytest.raises(NotFound) as refused:
            api_keys.revoke(deps, stranger, key_id)
        assert refused.value.message == "no such API key"
    assert [k.id for k in api_keys.list_keys(deps, ann)] == [record.id]
    api_keys.revoke(deps, ann, record.id or 0)
    assert api_keys.list_keys(deps, ann) == []
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        f"user {ann} made API key {record.id} ({record.prefix}) with scopes ['convert', 'read']",
        f"user {ann} revoked API key {record.id} ({record.prefix})",
    ]
    assert not any(key in line for line in said)


@pytest.mark.parametrize(("scopes", "message"), [
    ([], "field 'scopes' must be a non-empty list of 'read', 'convert'"),
    ("read", "field 'scopes' must be a non-empty list of 'read', 'convert'"),
    (["read", "admin"], "unknown scope 'admin': the scopes are 'read', 'convert'"),
    ([1], "unknown scope 1: the scopes are 'read', 'convert'"),
])  # fmt: skip
def test_scopes_are_refused_in_words(scopes: object, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        api_keys.checked_scopes(scopes)
    assert refused.value.message == message


def test_an_account_holds_a_limited_number_of_keys(deps: Dependencies) -> None:
    ann = user_id(deps)
    for n in range(MAX_KEYS_PER_USER):
        api_keys.create(deps, ann, f"key {n}", ["read"])
    with pytest.raises(Conflict) as refused:
        api_keys.create(deps, ann, "one more", ["read"])
    assert refused.value.message == (
        f"you have {MAX_KEYS_PER_USER} API keys, the most an account may have: "
        "revoke one you no longer use (DELETE /api/keys/ID)"
    )


def test_a_key_is_recorded_with_its_prefix_and_time_and_needs_a_name(deps: Dependencies) -> None:
    ann = user_id(deps)
    record, key = api_keys.create(deps, ann, "backup", ["read"])
    assert record.prefix == key[:PREFIX_CHARS] and record.created_at == deps.clock()
    with pytest.raises(InvalidInput) as refused:
        api_keys.create(deps, ann, " ", ["read"])
    assert refused.value.message == "missing field 'name': what the key is for (e.g. 'nightly job')"
