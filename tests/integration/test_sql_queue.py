"""The embedded mode's message queue on SQLite and PostgreSQL: delivery, deduplication,
retries, bounded concurrency and redelivery of what a dead consumer held."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, update

from audioconv.adapters import queue_wakeup
from audioconv.adapters.database import make_engine
from audioconv.adapters.orm import messages
from audioconv.adapters.sql_queue import SqlQueueBus, SqlQueueConsumer
from audioconv.config import Settings
from audioconv.domain.errors import RetryLater
from audioconv.domain.model import as_utc, utcnow
from audioconv.ports import Message


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    built = make_engine(settings) if settings.resolved_database_url.startswith("sqlite") else (
        create_engine(settings.resolved_database_url))  # fmt: skip
    yield built
    built.dispose()


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(messages)).scalar_one())


def _consumer(engine: Engine, **kwargs: Any) -> SqlQueueConsumer:
    return SqlQueueConsumer(engine, poll_seconds=0.01, backoff_seconds=0.05, **kwargs)


def _wait(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_delivers_the_message_once_and_acks(engine: Engine) -> None:
    got: list[Message] = []
    consumer = _consumer(engine)
    consumer.subscribe("topic-a", got.append, 2)
    bus = SqlQueueBus(engine)
    message_id = bus.publish("topic-a", {"taskId": 1, "revision": 1}, {"taskId": "1"})
    bus.publish("topic-a", {"taskId": 1, "revision": 1}, {"taskId": "1"})  # a copy: kept once
    assert _rows(engine) == 1
    consumer.start()
    try:
        assert consumer.wait_idle(10)
    finally:
        consumer.shutdown()
    assert got == [Message(message_id, {"taskId": 1, "revision": 1}, {"taskId": "1"})]
    assert _rows(engine) == 0


def test_a_failing_handler_is_retried_then_left_to_the_sweep(engine: Engine) -> None:
    calls: list[str] = []

    def flaky(message: Message) -> None:
        calls.append(message.id)
        if len(calls) < 3:
            raise ConnectionError("not yet")

    consumer = _consumer(engine, max_attempts=5)
    consumer.subscribe("topic-b", flaky, 1)
    SqlQueueBus(engine).publish("topic-b", {"n": 1}, {})
    consumer.start()
    try:
        assert consumer.wait_idle(10)
        assert len(calls) == 3 and len(set(calls)) == 1  # the same message each time

        def broken(message: Message) -> None:
            raise ConnectionError("never")

        consumer._subscriptions["topic-b"].handler = broken
        SqlQueueBus(engine).publish("topic-b", {"n": 2}, {})
        assert consumer.wait_idle(10)  # given up after max_attempts: the row is gone
    finally:
        consumer.shutdown()


def _row(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(messages)).one()


@pytest.mark.parametrize(("after", "held"), [(30, 30), (0, 0.05), (5000, 600)])
def test_a_retry_later_saying_when_is_held_till_then_without_using_an_attempt(
    engine: Engine, after: float, held: float
) -> None:
    """A busy task's request waits for the lease to end (clamped to the back-off and
    ten minutes) and is not a failure: with one attempt allowed it is not dropped."""
    calls: list[float] = []

    def busy_once(message: Message) -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RetryLater("busy", after_seconds=after)

    consumer = _consumer(engine, max_attempts=1)
    consumer.subscribe("topic-h", busy_once, 1)
    SqlQueueBus(engine).publish("topic-h", {"n": 1}, {})
    consumer.start()
    try:
        if held > 1:
            _wait(lambda: calls and _row(engine).attempts == 0)  # deferred, attempt given back
            row = _row(engine)
            wait = (as_utc(row.available_at) - utcnow()).total_seconds()
            assert held - 3 < wait <= held
            time.sleep(0.3)
            assert len(calls) == 1  # not before its time
            with engine.begin() as conn:  # its time comes
                conn.execute(update(messages).values(available_at=utcnow()))
        assert consumer.wait_idle(10)
    finally:
        consumer.shutdown()
    assert len(calls) == 2


def test_no_more_handlers_run_at_once_than_the_topic_has_slots(engine: Engine) -> None:
    running, most, release = [0], [0], threading.Event()
    lock = threading.Lock()

    def slow(message: Message) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(10)
        with lock:
            running[0] -= 1

    consumer = _consumer(engine)
    consumer.subscribe("topic-c", slow, 2)
    bus = SqlQueueBus(engine)
    for n in range(5):
        bus.publish("topic-c", {"n": n}, {})
    consumer.start()
    try:
        _wait(lambda: running[0] == 2)
        time.sleep(0.2)
        assert most[0] == 2 and _rows(engine) == 5  # three wait, two are held
        release.set()
        assert consumer.wait_idle(10)
    finally:
        release.set()
        consumer.shutdown()
    assert most[0] == 2


def test_what_a_dead_consumer_held_comes_back_after_its_visibility_timeout(
    engine: Engine,
) -> None:
    held, release, second = threading.Event(), threading.Event(), []
    dead = _consumer(engine, visibility_seconds=0.6)

    def hang(message: Message) -> None:
        held.set()
        release.wait(10)

    dead.subscribe("topic-d", hang, 1)
    SqlQueueBus(engine).publish("topic-d", {"n": 1}, {})
    dead.start()
    try:
        assert held.wait(10)
        dead._stop.set()  # it stops taking and extending, as if its process had died
        alive = _consumer(engine, visibility_seconds=0.6)
        alive.subscribe("topic-d", lambda message: second.append(message.id), 1)
        alive.start()
        try:
            _wait(lambda: bool(second))
        finally:
            alive.shutdown()
    finally:
        release.set()
        dead.shutdown()


def test_a_due_conversion_is_taken_before_any_report(engine: Engine) -> None:
    """Reports share the conversions' slots and wait for their backlog: queued first,
    they still run last."""
    order: list[str] = []
    consumer = _consumer(engine)
    consumer.subscribe("conversions", lambda m: order.append(m.data["name"]), 1)
    consumer.subscribe("reports", lambda m: order.append(m.data["name"]), 1, after="conversions")
    bus = SqlQueueBus(engine)
    for name in ("report 1", "report 2"):
        bus.publish("reports", {"name": name}, {})
    for name in ("conversion 1", "conversion 2", "conversion 3"):
        bus.publish("conversions", {"name": name}, {})
    consumer.start()
    try:
        assert consumer.wait_idle(10)
    finally:
        consumer.shutdown()
    assert order == ["conversion 1", "conversion 2", "conversion 3", "report 1", "report 2"]


def test_a_report_waits_while_every_slot_is_busy(engine: Engine) -> None:
    """Two slots for the machine: two conversions running leave none for a report; the
    first to finish frees one, and with no conversion waiting the report takes it."""
    running: list[str] = []
    release = {name: threading.Event() for name in ("conversion 1", "conversion 2")}

    def convert(message: Message) -> None:
        running.append(message.data["name"])
        release[message.data["name"]].wait(10)

    consumer = _consumer(engine)
    consumer.subscribe("conversions", convert, 2)
    consumer.subscribe("reports", lambda m: running.append(m.data["name"]), 2, after="conversions")
    bus = SqlQueueBus(engine)
    for name in release:
        bus.publish("conversions", {"name": name}, {})
    consumer.start()
    try:
        _wait(lambda: len(running) == 2)
        bus.publish("reports", {"name": "report"}, {})
        time.sleep(0.3)
        assert "report" not in running and _rows(engine) == 3  # held, waiting for a slot
        release["conversion 1"].set()
        _wait(lambda: "report" in running)
        assert not release["conversion 2"].is_set()  # in the slot conversion 1 freed
    finally:
        for event in release.values():
            event.set()
        consumer.shutdown()
    assert sorted(running) == ["conversion 1", "conversion 2", "report"]


def _holders(engine: Engine) -> list[str | None]:
    with engine.connect() as conn:
        return list(conn.execute(select(messages.c.holder).order_by(messages.c.id)).scalars())


def test_a_dead_consumers_messages_come_back_at_once_when_released(engine: Engine) -> None:
    """Named consumers (worker processes) mark what they hold; releasing one dead
    consumer's name shows exactly its rows again, long before their visibility timeout,
    and leaves another's hidden."""
    held, release, second = threading.Barrier(3, timeout=10), threading.Event(), []

    def hang(message: Message) -> None:
        held.wait()
        release.wait(10)

    bus = SqlQueueBus(engine)
    dead, live = _consumer(engine, holder="w1"), _consumer(engine, holder="w2")
    for consumer in (dead, live):
        consumer.subscribe("topic-e", hang, 1)
    bus.publish("topic-e", {"n": 1}, {})
    bus.publish("topic-e", {"n": 2}, {})
    dead.start()
    live.start()
    try:
        held.wait()  # each holds one (one slot each)
        assert sorted(h or "" for h in _holders(engine)) == ["w1", "w2"]
        dead._stop.set()  # it stops taking and extending, as if its process had died
        assert bus.release_held("w3") == 0  # nobody of that name holds anything
        assert bus.release_held("w1") == 1
        assert sorted(h or "" for h in _holders(engine)) == ["", "w2"]
        alive = _consumer(engine, holder="w3")
        alive.subscribe("topic-e", lambda message: second.append(message.data["n"]), 1)
        alive.start()
        try:
            _wait(lambda: bool(second))  # the visibility timeout is a minute
            # Acked (gone) once handled; the live one's row was not shown again.
            _wait(lambda: _holders(engine) == ["w2"])
        finally:
            alive.shutdown()
    finally:
        release.set()
        dead.shutdown()
        live.shutdown()
    assert len(second) == 1


def test_the_start_up_release_shows_every_held_message_but_no_waiting_retry(
    engine: Engine,
) -> None:
    bus = SqlQueueBus(engine)
    for n in range(3):
        bus.publish("topic-f", {"n": n}, {})
    later = utcnow() + timedelta(minutes=5)
    with engine.begin() as conn:  # two held by dead processes; one nacked, in its backoff
        for row_id, holder in zip(_ids(conn), ("w1", "w2", None), strict=True):
            conn.execute(
                update(messages).where(messages.c.id == row_id)
                .values(available_at=later, holder=holder)
            )  # fmt: skip
    assert bus.release_held(None) == 2
    with engine.connect() as conn:
        due = conn.execute(
            select(messages.c.holder).where(messages.c.available_at <= utcnow())
        ).all()
    assert len(due) == 2 and _holders(engine) == [None, None, None]


def _ids(conn: Any) -> list[int]:
    return list(conn.execute(select(messages.c.id).order_by(messages.c.id)).scalars())


def test_consumers_in_several_processes_take_each_message_once(settings: Settings) -> None:
    """Two consumers, each with its own engine (its own connections, as two worker
    processes have), on one table: every message is handled once, by one of them."""
    engines = [make_engine(settings) for _ in range(2)]
    got: list[tuple[str, int]] = []
    lock = threading.Lock()

    def handler(name: str) -> Any:
        def handle(message: Message) -> None:
            time.sleep(0.005)
            with lock:
                got.append((name, message.data["n"]))

        return handle

    consumers = [_consumer(e, holder=f"w{i}") for i, e in enumerate(engines)]
    for i, consumer in enumerate(consumers):
        consumer.subscribe("topic-g", handler(f"w{i}"), 3)
    bus = SqlQueueBus(engines[0])
    for n in range(40):
        bus.publish("topic-g", {"n": n}, {})
    for consumer in consumers:
        consumer.start()
    try:
        assert consumers[0].wait_idle(30)
    finally:
        for consumer in consumers:
            consumer.shutdown()
        for e in engines:
            e.dispose()
    assert sorted(n for _, n in got) == list(range(40))


def test_a_publish_wakes_the_consumer_without_waiting_for_its_poll(engine: Engine) -> None:
    """PostgreSQL: NOTIFY; SQLite: the socket pair `audioconv serve` hands its children.
    The consumer's poll is set to a minute, so only the wake-up can deliver in time."""
    got = threading.Event()
    receiving, sending = queue_wakeup.socket_pairs(1)[0]
    sqlite = engine.dialect.name == "sqlite"
    consumer = SqlQueueConsumer(
        engine, poll_seconds=60, idle_poll_seconds=60,
        wake_fd=receiving.fileno() if sqlite else None,
    )  # fmt: skip
    consumer.subscribe("topic-wake", lambda _m: got.set(), 1)
    bus = SqlQueueBus(engine, queue_wakeup.SocketWaker([sending.fileno()]).wake if sqlite else None)
    consumer.start()
    try:
        # The consumer has read the (empty) queue and sleeps; the listener is up when a
        # first publish gets through (PostgreSQL's LISTEN starts on its own thread).
        _wait(lambda: (bus.publish("topic-wake", {"n": 0}, {}), got.wait(0.5))[1], 20)
        got.clear()
        time.sleep(0.2)  # asleep again, in its 60 s wait
        bus.publish("topic-wake", {"n": 1}, {})
        assert got.wait(10), "the publish did not wake the consumer"
    finally:
        consumer.shutdown()
        receiving.close()
        sending.close()


def test_a_user_with_a_backlog_does_not_hold_back_another_users_request(engine: Engine) -> None:
    """Fair share: user a queues 6 long conversions into 2 slots; user b's one request
    runs at once, beside a's two (a borrows a slot beyond its cap of 1), and a's third
    starts only once the machine is back under its slots."""
    started: list[str] = []
    release = threading.Event()

    def handler(message: Message) -> None:
        started.append(f"{message.attributes['userId']}{message.data['n']}")
        if message.attributes["userId"] == "a":
            release.wait(30)

    consumer = _consumer(engine, fair=["convert"], user_slots=1)
    consumer.subscribe("convert", handler, 2)
    bus = SqlQueueBus(engine)
    for n in range(6):
        bus.publish("convert", {"n": n}, {"userId": "a"})
    consumer.start()
    try:
        _wait(lambda: len(started) == 2)
        bus.publish("convert", {"n": 0}, {"userId": "b"})
        _wait(lambda: "b0" in started)
        time.sleep(0.2)  # a few more rounds of the poll: nothing else may start
        assert sorted(started) == ["a0", "a1", "b0"]
        release.set()
        assert consumer.wait_idle(20)
    finally:
        release.set()
        consumer.shutdown()
    assert sorted(started) == ["a0", "a1", "a2", "a3", "a4", "a5", "b0"]


def test_without_a_group_a_fair_topic_is_first_come_first_served(engine: Engine) -> None:
    order: list[int] = []
    consumer = _consumer(engine, fair=["convert"])
    consumer.subscribe("convert", lambda m: order.append(m.data["n"]), 1)
    bus = SqlQueueBus(engine)
    for n in range(4):
        bus.publish("convert", {"n": n}, {})
    consumer.start()
    try:
        assert consumer.wait_idle(10)
    finally:
        consumer.shutdown()
    assert order == [0, 1, 2, 3]
