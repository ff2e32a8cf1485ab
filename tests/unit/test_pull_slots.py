"""The cloud pull worker's slots (entrypoints/pull_worker.py): conversions and report
passes share them, and a conversion waiting for one goes before any report."""

from __future__ import annotations

import threading
import time

import pytest

from audioconv.domain.errors import RetryLater
from audioconv.entrypoints.pull_worker import Slots
from audioconv.ports import Message


def _until(condition: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_waiting_conversion_takes_the_free_slot_before_a_waiting_report() -> None:
    slots = Slots(1)
    ran: list[str] = []
    release = threading.Event()

    def convert(message: Message) -> None:
        ran.append(message.id)
        if message.id == "conversion 1":
            release.wait(10)

    conversion, report = slots.guard(convert), slots.guard(convert, first=False)
    threads = [
        threading.Thread(target=handler, args=(Message(name, {}, {}),))
        for name, handler in (
            ("conversion 1", conversion), ("report", report), ("conversion 2", conversion),
        )
    ]  # fmt: skip
    threads[0].start()
    _until(lambda: ran == ["conversion 1"])
    threads[1].start()
    threads[2].start()
    _until(lambda: slots._conversions_waiting == 1)  # conversion 2 waits for the slot
    release.set()
    for thread in threads:
        thread.join(10)
    assert ran == ["conversion 1", "conversion 2", "report"]


def test_a_report_takes_a_free_slot_and_gives_it_back_even_when_it_fails() -> None:
    slots = Slots(1)

    def broken(message: Message) -> None:
        raise ConnectionError("database away")

    for _ in range(2):  # the slot came back after the failure
        with pytest.raises(ConnectionError):
            slots.guard(broken, first=False)(Message("r", {}, {}))
    done: list[str] = []
    slots.guard(lambda m: done.append(m.id))(Message("c", {}, {}))
    assert done == ["c"]


def _conversion(user: int, n: int) -> Message:
    return Message(f"u{user}-{n}", {}, {"userId": str(user)})


def _start(handler: object, message: Message, errors: list[Exception]) -> threading.Thread:
    def run() -> None:
        try:
            handler(message)  # type: ignore[operator]
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_user_alone_takes_every_slot_and_nothing_is_deferred() -> None:
    slots = Slots(2, lambda: ({}, set()), cap=1, recheck_seconds=0.05)
    ran: list[str] = []
    release = threading.Event()

    def convert(message: Message) -> None:
        ran.append(message.id)
        release.wait(10)

    errors: list[Exception] = []
    threads = [_start(slots.guard(convert), _conversion(1, n), errors) for n in range(3)]
    _until(lambda: len(ran) == 2 and slots._conversions_waiting == 1)
    release.set()
    for thread in threads:
        thread.join(10)
    assert sorted(ran) == ["u1-0", "u1-1", "u1-2"] and errors == []


def test_another_users_request_in_hand_runs_beside_a_borrower_at_once() -> None:
    slots = Slots(2, lambda: ({}, set()), cap=1, recheck_seconds=0.05)
    ran: list[str] = []
    release = threading.Event()

    def convert(message: Message) -> None:
        ran.append(message.id)
        if message.id.startswith("u1"):
            release.wait(10)

    errors: list[Exception] = []
    threads = [_start(slots.guard(convert), _conversion(1, n), errors) for n in range(2)]
    _until(lambda: len(ran) == 2)
    threads.append(_start(slots.guard(convert), _conversion(2, 0), errors))
    _until(lambda: "u2-0" in ran)  # while both of user 1's still run
    threads.append(_start(slots.guard(convert), _conversion(1, 2), errors))
    _until(lambda: slots._conversions_waiting == 1)  # user 1's third waits its turn
    release.set()
    for thread in threads:
        thread.join(10)
    assert sorted(ran) == ["u1-0", "u1-1", "u1-2", "u2-0"] and errors == []


def test_a_request_that_cannot_run_makes_room_when_another_user_waits_on_the_server() -> None:
    waiting: set[int] = set()
    slots = Slots(2, lambda: ({1: 2}, waiting), cap=1, recheck_seconds=0.05)
    release = threading.Event()
    errors: list[Exception] = []
    busy = [_start(slots.guard(lambda m: release.wait(10)), _conversion(1, n), errors)
            for n in range(2)]  # fmt: skip
    third = _start(slots.guard(lambda m: None), _conversion(1, 2), errors)
    _until(lambda: slots._conversions_waiting == 1)
    waiting.add(2)  # user 2's request is queued, not yet delivered here
    third.join(10)
    assert len(errors) == 1 and isinstance(errors[0], RetryLater)
    release.set()
    for thread in busy:
        thread.join(10)
    assert len(errors) == 1
