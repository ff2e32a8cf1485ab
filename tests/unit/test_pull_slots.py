"""The cloud pull worker's slots (entrypoints/pull_worker.py): conversions and report
passes share them, and a conversion waiting for one goes before any report."""

from __future__ import annotations

import threading
import time

import pytest

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
