"""Throttles kept in the database, so every process and instance sees the same counts."""

from __future__ import annotations

from collections.abc import Sequence

from audioconv.domain.errors import Conflict, TooManyRequests
from audioconv.domain.throttle import Rule, Throttle
from audioconv.ports import UnitOfWork
from audioconv.services.dependencies import Dependencies

Guard = tuple[Rule, str]  # a rule and the key it counts


def check(deps: Dependencies, uow: UnitOfWork, guards: Sequence[Guard], message: str) -> bool:
    """TooManyRequests (with the wait) if any key is blocked; whether any is counted."""
    now = deps.clock()
    found = uow.throttles.many([key for _, key in guards])
    wait = max((t.wait_seconds(now) for t in found), default=0)
    if wait:
        raise TooManyRequests(f"{message}; try again in {wait} s", retry_after=wait)
    return bool(found)


def record(deps: Dependencies, guards: Sequence[Guard]) -> None:
    """Count one event on every key (a concurrent first event is retried once)."""
    for attempt in (1, 2):
        try:
            with deps.uow() as uow:
                now = deps.clock()
                for rule, key in guards:
                    throttle = uow.throttles.get(key)
                    if throttle is None:
                        throttle = Throttle(key=key, count=0, window_started_at=now)
                        uow.throttles.add(throttle)
                    throttle.record(rule, now)
                uow.commit()
            return
        except Conflict:
            if attempt == 2:
                raise


def forgive(deps: Dependencies, guards: Sequence[Guard]) -> None:
    """Forget the counts of these keys (the owner proved who they are)."""
    with deps.uow() as uow:
        uow.throttles.clear([key for _, key in guards])
        uow.commit()


def admit(deps: Dependencies, guard: Guard) -> int | None:
    """Count one event on the guard's key unless the key is blocked, in one transaction
    (two processes cannot both take the last place): how many the key's window holds
    with this one, or None (nothing counted) while it is blocked."""
    rule, key = guard
    for attempt in (1, 2):
        try:
            with deps.uow() as uow:
                now = deps.clock()
                throttle = uow.throttles.get(key)
                if throttle is None:
                    throttle = Throttle(key=key, count=0, window_started_at=now)
                    uow.throttles.add(throttle)
                elif throttle.wait_seconds(now):
                    return None
                throttle.record(rule, now)
                uow.commit()
                return throttle.count
        except Conflict:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
