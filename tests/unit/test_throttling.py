"""The throttle service's own rules: refusing an attempt on a blocked key counts nothing,
a concurrent first event is retried once (no more), and expiry keeps what still matters."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import pytest

from audioconv.domain.errors import Conflict, TooManyRequests
from audioconv.domain.throttle import LONGEST_WINDOW, Rule, Throttle
from audioconv.services import throttling
from audioconv.services.dependencies import Dependencies
from tests.unit.fakes import Clock, FakeThrottles, FakeUnitOfWork

RULE = Rule("test", free=1, base=timedelta(seconds=30))


def _throttles(deps: Dependencies) -> FakeThrottles:
    return cast(FakeUnitOfWork, deps.uow()).throttles


def test_an_attempt_on_a_blocked_key_is_refused_with_the_wait_and_counts_nothing(
    deps: Dependencies,
) -> None:
    blocked, free = RULE.on("blocked"), RULE.on("free")
    throttling.record(deps, [blocked])  # the one free event: blocked for 30 s
    rows = _throttles(deps).rows
    assert rows["test:blocked"].count == 1
    with pytest.raises(TooManyRequests) as refused:
        throttling.attempt(deps, [free, blocked], "too many tries")
    assert refused.value.message == "too many tries; try again in 30 s"
    assert refused.value.retry_after == 30
    assert rows["test:blocked"].count == 1 and "test:free" not in rows  # nothing counted
    cast(Clock, deps.clock).advance(30)
    throttling.attempt(deps, [free, blocked], "too many tries")
    assert (rows["test:blocked"].count, rows["test:free"].count) == (2, 1)


def test_recording_counts_a_blocked_key_without_refusing(deps: Dependencies) -> None:
    key = RULE.on("k")
    for _ in range(3):
        throttling.record(deps, [key])
    assert _throttles(deps).rows["test:k"].count == 3
    assert throttling.admit(deps, key) is None  # blocked: admit counts nothing
    assert _throttles(deps).rows["test:k"].count == 3


class _RacingThrottles(FakeThrottles):
    """Another process adds each new key's row just before this one does, ``races`` times."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races
        self.adds = 0

    def add(self, throttle: Throttle) -> None:
        self.adds += 1
        if self.races:
            self.races -= 1
            self.rows[throttle.key] = Throttle(throttle.key, 1, throttle.window_started_at)
        super().add(throttle)


def _racing(deps: Dependencies, races: int) -> _RacingThrottles:
    uow = cast(FakeUnitOfWork, deps.uow())
    uow.throttles = _RacingThrottles(races)
    return uow.throttles


def test_a_concurrent_first_event_is_retried_once_and_counted_on_the_others_row(
    deps: Dependencies,
) -> None:
    throttles = _racing(deps, races=1)
    throttling.attempt(deps, [RULE.on("k")], "too many tries")
    assert throttles.rows["test:k"].count == 2  # the other's event and ours
    assert throttles.adds == 1


def test_a_conflict_on_the_retry_too_is_raised_not_swallowed(deps: Dependencies) -> None:
    throttles = _racing(deps, races=2)
    with pytest.raises(Conflict):
        # Each turn meets a row that appears between its read and its insert.
        original = throttles.get
        throttles.get = lambda key: None  # type: ignore[method-assign]
        try:
            throttling.record(deps, [RULE.on("k")])
        finally:
            throttles.get = original  # type: ignore[method-assign]
    assert throttles.adds == 2  # tried twice, no third time


def test_expire_forgets_quiet_unblocked_counts_only(deps: Dependencies) -> None:
    clock = cast(Clock, deps.clock)
    rows = _throttles(deps).rows
    now = clock()
    long_ago = now - LONGEST_WINDOW - timedelta(seconds=1)
    rows["quiet"] = Throttle("quiet", 3, long_ago)
    rows["recent"] = Throttle("recent", 3, now - timedelta(minutes=1))
    rows["blocked"] = Throttle("blocked", 9, long_ago, blocked_until=now + timedelta(minutes=5))
    assert throttling.expire(deps) == 1
    assert sorted(rows) == ["blocked", "recent"]
    assert throttling.expire(deps) == 0
