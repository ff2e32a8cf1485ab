"""Throttles kept in the database, so every process and instance sees the same counts."""

from __future__ import annotations

from collections.abc import Sequence

from audioconv.domain.errors import Conflict, TooManyRequests
from audioconv.domain.throttle import LONGEST_WINDOW, Rule, Throttle
from audioconv.ports import UnitOfWork
from audioconv.services.dependencies import Dependencies

Guard = tuple[Rule, str]  # a rule and the key it counts


def check(deps: Dependencies, uow: UnitOfWork, guards: Sequence[Guard], message: str) -> bool:
    """TooManyRequests (with the wait) if any key is blocked; whether any is counted."""
    now = deps.clock()
    found = uow.throttles.many([key for _, key in guards])
    # No rows, no wait: any false default is the same (an equivalent mutant).
    wait = max((t.wait_seconds(now) for t in found), default=0)  # pragma: no mutate
    if wait:
        raise TooManyRequests(f"{message}; try again in {wait} s", retry_after=wait)
    return bool(found)


def record(deps: Dependencies, guards: Sequence[Guard]) -> None:
    """Count one event on every key (a concurrent first event is retried once)."""
    _count(deps, guards, refuse=None)


def attempt(deps: Dependencies, guards: Sequence[Guard], message: str) -> None:
    """Count one attempt on every key, atomically, before the work it guards (argon2):
    TooManyRequests (with the wait, counting nothing) if any key is blocked. The keys'
    rows are locked, so concurrent attempts are counted one after the other and no
    more get through than the rules allow; the caller gives the count back when the
    attempt succeeds (``settle``)."""
    _count(deps, guards, refuse=message)


def _count(deps: Dependencies, guards: Sequence[Guard], refuse: str | None) -> None:
    """Count one event on every key, their rows locked; with ``refuse``, first refuse
    (TooManyRequests with that message) if any key is blocked."""
    for turn in (1, 2):  # a concurrent first event is retried once
        try:
            with deps.uow() as uow:
                now = deps.clock()
                rows = [(rule, key, uow.throttles.get(key)) for rule, key in guards]
                waits = [t.wait_seconds(now) for _, _, t in rows if t]
                # No rows, no wait: any false default is the same (an equivalent mutant).
                wait = max(waits, default=0)  # pragma: no mutate
                if refuse is not None and wait:
                    raise TooManyRequests(f"{refuse}; try again in {wait} s", retry_after=wait)
                for rule, key, throttle in rows:
                    if throttle is None:
                        throttle = Throttle(key=key, count=0, window_started_at=now)
                        uow.throttles.add(throttle)
                    throttle.record(rule, now)
                uow.commit()
            return
        except Conflict:
            if turn == 2:
                raise


def settle(deps: Dependencies, forgiven: Sequence[Guard], taken_back: Sequence[Guard]) -> None:
    """After an attempt ``attempt`` counted succeeded: forget the ``forgiven`` keys'
    counts, and take that one attempt back from the ``taken_back`` keys."""
    with deps.uow() as uow:
        uow.throttles.clear([key for _, key in forgiven])
        for rule, key in taken_back:
            throttle = uow.throttles.get(key)
            if throttle is not None:
                throttle.give_back(rule)
                if throttle.count == 0:  # as if it had never been counted
                    uow.throttles.clear([key])
        uow.commit()


def expire(deps: Dependencies) -> int:
    """Delete the counts that no longer matter: quiet for longer than every rule's
    window and not blocked (a stale row is as good as none: ``Throttle.record``
    starts it from zero). Keys of usernames that do not exist do not pile up."""
    now = deps.clock()
    with deps.uow() as uow:
        removed = uow.throttles.expire(now - LONGEST_WINDOW, now)
        uow.commit()
    return removed


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
    raise AssertionError("unreachable")  # pragma: no cover, no mutate (never runs)
