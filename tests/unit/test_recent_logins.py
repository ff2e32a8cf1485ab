"""Logging in again soon skips argon2, and only for the very password that passed it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from audioconv.domain.errors import Unauthorized
from audioconv.services import auth
from audioconv.services.dependencies import Dependencies
from audioconv.services.recent_logins import RecentLogins
from tests.unit.fakes import Clock

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TTL = timedelta(minutes=10)


def test_remembers_only_the_same_password_under_the_same_hash_for_a_while() -> None:
    recent = RecentLogins()
    recent.remember(7, "$argon2id$one", "correct horse", T0)
    assert recent.remembers(7, "$argon2id$one", "correct horse", T0 + TTL / 2, TTL)
    assert not recent.remembers(7, "$argon2id$one", "correct horsE", T0, TTL)
    assert not recent.remembers(7, "$argon2id$two", "correct horse", T0, TTL)  # changed
    assert not recent.remembers(8, "$argon2id$one", "correct horse", T0, TTL)  # other user
    assert not recent.remembers(7, "$argon2id$one", "correct horse", T0 + TTL, TTL)
    assert not recent.remembers(7, "$argon2id$one", "correct horse", T0 - TTL / 2, TTL)


def test_passwords_are_kept_only_as_keyed_hashes_of_this_instance() -> None:
    first, second = RecentLogins(), RecentLogins()
    first.remember(1, "h", "pässwörd \ud800", T0)  # any str a JSON body can carry
    second.remember(1, "h", "pässwörd \ud800", T0)
    kept = [e.digest for r in (first, second) for e in r._entries.values()]
    assert kept[0] != kept[1] and all(b"p\xc3\xa4ssw" not in d for d in kept)
    assert first.remembers(1, "h", "pässwörd \ud800", T0, TTL)


def test_the_oldest_entries_are_forgotten_first() -> None:
    recent = RecentLogins(max_entries=2)
    for user in (1, 2, 3):
        recent.remember(user, "h", "pw", T0)
    assert [recent.remembers(u, "h", "pw", T0, TTL) for u in (1, 2, 3)] == [False, True, True]


class CountingHasher:
    """argon2, counting its verifies."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.verifies = 0

    def verify(self, stored: str, password: str) -> bool:
        self.verifies += 1
        return self.real.verify(stored, password)

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


@pytest.fixture
def argon2(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher(auth._hasher)
    monkeypatch.setattr(auth, "_hasher", counting)
    return counting


def _clock(deps: Dependencies) -> Clock:
    assert isinstance(deps.clock, Clock)
    return deps.clock


def test_a_second_log_in_soon_after_skips_argon2(
    deps: Dependencies, argon2: CountingHasher
) -> None:
    auth.signup(deps, "ann", "ann@example.com", "password1", "password1")
    assert auth.login(deps, "ann", "password1").username == "ann"
    _clock(deps).advance(deps.settings.login_cache_seconds - 1)
    assert auth.login(deps, "ann", "password1").username == "ann"
    assert argon2.verifies == 1
    _clock(deps).advance(1)  # the time is up: argon2 again
    auth.login(deps, "ann", "password1")
    assert argon2.verifies == 2


def test_a_wrong_password_always_goes_to_argon2_and_fails(
    deps: Dependencies, argon2: CountingHasher
) -> None:
    auth.signup(deps, "ann", "ann@example.com", "password1", "password1")
    auth.login(deps, "ann", "password1")
    with pytest.raises(Unauthorized, match="invalid username or password"):
        auth.login(deps, "ann", "password2")
    assert argon2.verifies == 2


def test_a_changed_password_is_never_taken_from_memory(deps: Dependencies) -> None:
    user = auth.signup(deps, "ann", "ann@example.com", "password1", "password1")
    auth.login(deps, "ann", "password1")
    with deps.uow() as uow:
        stored = uow.users.get(user.id or 0)
        assert stored is not None
        stored.password_hash = auth._hasher.hash("password2")
        uow.commit()
    with pytest.raises(Unauthorized):
        auth.login(deps, "ann", "password1")
    assert auth.login(deps, "ann", "password2").username == "ann"


def test_zero_seconds_turns_the_memory_off(deps: Dependencies, argon2: CountingHasher) -> None:
    deps.settings = deps.settings.model_copy(update={"login_cache_seconds": 0})
    auth.signup(deps, "ann", "ann@example.com", "password1", "password1")
    for _ in range(3):
        auth.login(deps, "ann", "password1")
    assert argon2.verifies == 3


def test_one_second_of_memory_is_memory(deps: Dependencies, argon2: CountingHasher) -> None:
    deps.settings = deps.settings.model_copy(update={"login_cache_seconds": 1})
    auth.signup(deps, "ann", "ann@example.com", "password1", "password1")
    auth.login(deps, "ann", "password1")
    auth.login(deps, "ann", "password1")
    assert argon2.verifies == 1
