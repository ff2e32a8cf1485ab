"""An event bus in a database table, for the embedded mode's process tree.

The API processes publish by inserting a row; one worker process consumes the
rows and hands each, as a ``Message``, to the topic's handler. Like a Pub/Sub
subscription it is at-least-once: a delivered row is hidden for a visibility
timeout that is extended while its handler runs,
deleted when the handler returns (ack), and shown again after a back-off when it
raises (nack), or, for a ``RetryLater`` that says when a retry can succeed (a
busy task's lease end), at that time, without counting it as a failed attempt;
a row whose process died comes back when its timeout runs out.
A message whose ``notBefore`` attribute (ISO 8601) names a later time is held
until then (a webhook's next attempt).
Identical messages still queued are stored once, so republishing (the sweep) is
cheap even with a long backlog.

Several worker processes may consume the same table: a row is claimed under
SQLite's write lock (BEGIN IMMEDIATE) or PostgreSQL's row locks (``FOR UPDATE SKIP
LOCKED``), so each message goes to one of them at a time. A consumer with a
``holder`` name marks the rows it handles with it, and ``SqlQueueBus.release_held``
shows a dead consumer's rows again at once (the supervisor, ``embedded.py``).

A publish wakes the consumers at once (adapters/queue_wakeup.py: PostgreSQL's
NOTIFY, or the sockets ``audioconv serve`` hands its processes for SQLite); their
poll (every ``idle_poll_seconds`` then) is only the safety net.

A topic may be ``fair`` (conversion requests): its messages carry a group (the
``userId`` attribute: their owner), and free slots go by domain/fair_share.py, not
in the order published: to the group running the fewest, at most
``user_slots`` per group while another waits, and a waiting group running nothing
starts beside a group that borrows slots beyond its share instead of waiting for one.

A topic may be served ``after`` another (report passes after conversions): in the
same slots (the same threads: one pool for the machine), and only when a slot is
free and none of the other topic's messages is due, so a backlog of the first
drains before any of the second starts.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Executable,
    bindparam,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from audioconv.adapters import queue_wakeup
from audioconv.adapters.inprocess_bus import not_before
from audioconv.adapters.orm import messages
from audioconv.domain import fair_share
from audioconv.domain.errors import retry_delay
from audioconv.domain.model import as_utc, utcnow
from audioconv.ports import Message, MessageHandler

log = logging.getLogger(__name__)
# The longest a handler's RetryLater(after_seconds=...) holds a message back; a handler
# that needs longer finds it early and defers it again.
MAX_DEFER_SECONDS = 600.0
# The attribute naming a message's group, for a ``fair`` topic (its owner's id).
GROUP_ATTRIBUTE = "userId"
# A holder name for a consumer given none: its rows still count as in flight.
_UNNAMED = "-"
# With every slot of a fair topic busy, how often it looks for a newcomer to start
# beside a borrower (fair_share): well within the seconds such a user may wait.
OVERCOMMIT_CHECK_SECONDS = 1.0


def _dedupe_key(topic: str, data: dict[str, Any], attributes: dict[str, str]) -> str:
    body = json.dumps([topic, data, attributes], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


class SqlQueueBus:
    """Publishes into the ``messages`` table (any process; the worker consumes), and
    wakes the consumers: PostgreSQL's NOTIFY, else ``wake`` (the sockets of
    ``audioconv serve``) after the commit."""

    def __init__(self, engine: Engine, wake: Callable[[], None] | None = None) -> None:
        self.engine = engine
        dialect = {"sqlite": sqlite, "postgresql": postgresql}[engine.dialect.name]
        self._insert = dialect.insert
        self._notify = engine.dialect.name == "postgresql"
        self._wake = wake

    def publish(self, topic: str, data: dict[str, Any], attributes: dict[str, str]) -> str:
        """Queue the message (durably, once committed); a copy still queued is kept once."""
        message_id = uuid.uuid4().hex
        row = {
            "message_id": message_id, "topic": topic, "data": data, "attributes": attributes,
            "dedupe_key": _dedupe_key(topic, data, attributes), "attempts": 0,
            "available_at": not_before(attributes) or utcnow(), "created_at": utcnow(),
            "group_key": attributes.get(GROUP_ATTRIBUTE),
        }  # fmt: skip
        statement = self._insert(messages).values(row).on_conflict_do_nothing()
        with self.engine.begin() as conn:
            conn.execute(statement)
            if self._notify:
                queue_wakeup.notify_in(conn)
        if self._wake is not None:
            self._wake()
        return message_id

    def release_held(self, holder: str | None) -> int:
        """Show again at once the messages ``holder`` (a consumer) was handling, or, with
        None, those of every named consumer (at start-up, when none runs); returns how many.
        Only for consumers known to be dead: a live one would see its messages twice."""
        held = messages.c.holder.is_not(None) if holder is None else messages.c.holder == holder
        with self.engine.begin() as conn:
            result = conn.execute(
                update(messages).where(held).values(available_at=utcnow(), holder=None)
            )
        return int(result.rowcount)

    def close(self) -> None:
        """Nothing to release: the engine belongs to the composition root."""


@dataclass
class _Slots:
    """Threads that some topics share, and how many of them are handling a message."""

    pool: ThreadPoolExecutor
    total: int
    busy: int = 0


@dataclass
class _Subscription:
    handler: MessageHandler
    slots: _Slots
    # Served only when none of this topic's messages is due (see the module's doc).
    after: str | None = None


class SqlQueueConsumer:
    """Delivers queued messages to handlers, on a bounded thread pool per topic (or
    shared by a topic served ``after`` another)."""

    def __init__(
        self,
        engine: Engine,
        max_attempts: int = 5,
        backoff_seconds: float = 2.0,
        visibility_seconds: float = 60.0,
        poll_seconds: float = 0.1,
        holder: str | None = None,
        *,
        wake_fd: int | None = None,
        idle_poll_seconds: float = 1.0,
        fair: Sequence[str] = (),
        user_slots: int = 0,
    ) -> None:
        self.engine = engine
        # This consumer's name on the rows it handles (``SqlQueueBus.release_held``).
        self.holder = holder
        # Woken by publishes (PostgreSQL always; SQLite through ``wake_fd``), it polls
        # only as a safety net, every ``idle_poll_seconds``.
        self._wake_fd = wake_fd
        self._woken = engine.dialect.name == "postgresql" or wake_fd is not None
        self.idle_poll_seconds = idle_poll_seconds
        # Topics whose slots are shared between groups (fair_share), and the cap.
        self.fair = set(fair)
        self.user_slots = user_slots
        self._next_overcommit_check = 0.0
        self.max_attempts = max_attempts
        self.backoff = backoff_seconds
        self.visibility = timedelta(seconds=visibility_seconds)
        self.poll_seconds = poll_seconds
        self._subscriptions: dict[str, _Subscription] = {}
        self._in_flight: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Set when a slot frees or on stop: a busy queue takes its next message at once
        # instead of at the next poll (with 1-second conversions, a 0.1 s poll was ~5 %).
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def subscribe(
        self, topic: str, handler: MessageHandler, workers: int, after: str | None = None
    ) -> None:
        """Deliver ``topic``'s messages to ``handler`` on ``workers`` threads; with
        ``after`` (a topic subscribed before), in that topic's slots, at a lower priority."""
        if after is not None:
            self._subscriptions[topic] = _Subscription(
                handler, self._subscriptions[after].slots, after
            )
            return
        # A fair topic may run up to as many again beyond its slots (fair_share).
        threads = workers * 2 if topic in self.fair else workers
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"queue-{topic}")
        self._subscriptions[topic] = _Subscription(handler, _Slots(pool, workers))

    def start(self) -> None:
        for name, loop in (("queue-poll", self._poll_loop), ("queue-lease", self._lease_loop)):
            thread = threading.Thread(target=loop, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        # Daemons, not joined: each looks at the stop flag at least once a second.
        if self.engine.dialect.name == "postgresql":
            queue_wakeup.listen_postgres(self.engine, self._wake.set, self._stop)
        elif self._wake_fd is not None:
            queue_wakeup.listen_socket(self._wake_fd, self._wake.set, self._stop)

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking messages; with ``wait``, let running handlers finish."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join()
        for sub in self._subscriptions.values():
            if sub.after is None:
                sub.slots.pool.shutdown(wait=wait, cancel_futures=True)

    # --- taking and settling messages ---------------------------------------------------

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            taken = 0
            wait = self.poll_seconds
            try:
                # One read for the round: which topics are due, and the fair share's counts.
                with self.engine.connect().execution_options(readonly=True) as reading:
                    due, soonest = self._due_topics(reading)
                    for topic, sub in self._subscriptions.items():
                        # A topic served after another waits while any of the other's is due.
                        if topic in due and sub.after not in due:
                            taken += self._take(topic, sub, reading)
                if self._woken:  # a publish wakes it; else the next row due, or the net
                    until = (soonest - utcnow()).total_seconds() if soonest else None
                    wait = min(self.idle_poll_seconds, max(0.0, until or self.idle_poll_seconds))
            except Exception:
                log.exception("reading the queue failed; trying again")
                self._stop.wait(1.0)
            if not taken:
                self._wake.wait(wait)
                self._wake.clear()

    def _due_topics(self, reading: Connection) -> tuple[set[str], datetime | None]:
        """The subscribed topics with a message due, and when the next one not yet due
        is: one read of a snapshot per round, without SQLite's write lock (a query per
        topic each round was two thirds of the worker process's own CPU)."""
        *row, soonest = reading.execute(self._due_statement, {"now": utcnow()}).one()
        topics = {topic for topic, due in zip(self._subscriptions, row, strict=True) if due}
        return topics, as_utc(soonest) if soonest is not None else None

    @functools.cached_property
    def _due_statement(self) -> Executable:
        now = bindparam("now", type_=messages.c.available_at.type)
        later = (messages.c.topic.in_(list(self._subscriptions))) & (messages.c.available_at > now)
        return select(
            *(
                exists().where((messages.c.topic == topic) & (messages.c.available_at <= now))
                for topic in self._subscriptions
            ),
            select(func.min(messages.c.available_at)).where(later).scalar_subquery(),
        )

    def _take(self, topic: str, sub: _Subscription, reading: Connection) -> int:
        """Claim as many of ``topic``'s due messages as it has free slots (for a fair
        topic: as fair_share chooses) and hand them on."""
        with self._lock:
            busy = sub.slots.busy
        free = sub.slots.total - busy
        now = utcnow()
        due = (messages.c.topic == topic) & (messages.c.available_at <= now)
        picks: Counter[str | None] | None = None
        if topic in self.fair:
            # With every slot busy only a newcomer beside a borrower may start: looked
            # for at most once a second (each publish wakes the consumer, and with a long
            # backlog the counting is the costly part).
            if free <= 0 and time.monotonic() < self._next_overcommit_check:
                return 0
            if free <= 0:
                self._next_overcommit_check = time.monotonic() + OVERCOMMIT_CHECK_SECONDS
            picks = self._fair_picks(reading, topic, due, now, sub.slots.total, busy)
            if not picks:
                return 0
        elif free <= 0:
            return 0
        with self.engine.begin() as conn:
            if picks is None:
                rows = list(conn.execute(
                    select(messages).where(due).order_by(messages.c.id).limit(free)
                    .with_for_update(skip_locked=True)
                ).all())  # fmt: skip
            else:
                rows = []
                for key, count in picks.items():
                    group = messages.c.group_key
                    mine = group.is_(None) if key is None else group == key
                    rows += conn.execute(
                        select(messages).where(due & mine).order_by(messages.c.id)
                        .limit(count).with_for_update(skip_locked=True)
                    ).all()  # fmt: skip
            ids = [row.id for row in rows]
            if ids:
                conn.execute(
                    update(messages).where(messages.c.id.in_(ids))
                    .values(available_at=now + self.visibility,
                            attempts=messages.c.attempts + 1, holder=self.holder or _UNNAMED)
                )  # fmt: skip
        with self._lock:
            sub.slots.busy += len(rows)
            self._in_flight.update(ids)
        for row in rows:
            message = Message(row.message_id, row.data, row.attributes)
            sub.slots.pool.submit(self._deliver, sub, row.id, row.attempts + 1, message)
        return len(rows)

    def _fair_picks(
        self,
        reading: Connection,
        topic: str,
        due: ColumnElement[bool],
        now: Any,
        total: int,
        busy: int,
    ) -> Counter[str | None]:
        """How many of each group's due messages fair_share hands slots to: it sees every
        group's running messages (all consumers') and waiting ones, in a read of a
        snapshot (no write lock while it counts: the API's uploads take turns with it)."""
        group = messages.c.group_key
        in_flight = (
            (messages.c.topic == topic)
            & messages.c.holder.is_not(None)
            & (messages.c.available_at > now)
        )
        counted = reading.execute(select(group, func.count()).where(in_flight).group_by(group))
        running: dict[str | None, int] = {key: int(n) for key, n in counted.all()}
        waiting = reading.execute(
            select(group, func.count()).where(due).group_by(group)
            .order_by(func.min(messages.c.id))
        ).all()  # fmt: skip
        beyond = max(0, busy - total)
        cap = self.user_slots or fair_share.default_cap(total)
        return Counter(fair_share.choose(
            max(0, total - busy), total - beyond, running, [(g, n) for g, n in waiting], cap,
            beyond,
        ))  # fmt: skip

    def _deliver(self, sub: _Subscription, row_id: int, attempt: int, message: Message) -> None:
        try:
            sub.handler(message)
        except Exception as exc:
            delay = retry_delay(exc)
            if delay is None:
                self._nack(row_id, attempt, message)
            else:
                self._defer(row_id, message, delay, exc)
        else:
            self._settle(row_id, delete(messages))
        finally:
            with self._lock:
                sub.slots.busy -= 1
                self._in_flight.discard(row_id)
            self._wake.set()

    def _nack(self, row_id: int, attempt: int, message: Message) -> None:
        if attempt >= self.max_attempts:
            log.exception("message %s failed %d times; left to the sweep", message.id, attempt)
            self._settle(row_id, delete(messages))
            return
        delay = self.backoff * 2 ** (attempt - 1)
        log.warning("message %s failed (attempt %d); retrying in %.0fs",
                    message.id, attempt, delay, exc_info=True)  # fmt: skip
        later = utcnow() + timedelta(seconds=delay)
        self._settle(row_id, update(messages).values(available_at=later, holder=None))

    def _defer(self, row_id: int, message: Message, after: float, exc: Exception) -> None:
        """Show the row again when its handler said a retry can succeed (a busy task's
        lease end, a webhook attempt's due time), clamped to [backoff, MAX_DEFER_SECONDS].

        Not a failure, so it gives back the attempt its delivery took: waiting cannot
        drop the message. It cannot wait forever either: the handlers defer only until
        a time they know, and that time is bounded (a webhook attempt's due time is
        fixed; a task is busy only while another worker's lease runs, renewed only
        while its conversion makes progress, and each new lease is a claim the task's
        own ``max_attempts`` counts)."""
        delay = min(max(after, self.backoff), MAX_DEFER_SECONDS)
        log.info("message %s deferred %.1fs: %s", message.id, delay, exc)
        later = utcnow() + timedelta(seconds=delay)
        self._settle(row_id, update(messages).values(
            available_at=later, holder=None, attempts=messages.c.attempts - 1
        ))  # fmt: skip

    def _settle(self, row_id: int, statement: Any) -> None:
        """Ack or nack one row; if the database is away, its visibility timeout redelivers it."""
        try:
            with self.engine.begin() as conn:
                conn.execute(statement.where(messages.c.id == row_id))
        except Exception:
            log.exception("settling queued message %s failed; it will be redelivered", row_id)

    def _lease_loop(self) -> None:
        """Keep the rows being handled hidden, as Pub/Sub clients extend ack deadlines."""
        interval = self.visibility.total_seconds() / 3
        while not self._stop.wait(interval):
            with self._lock:
                ids: Sequence[int] = sorted(self._in_flight)
            if not ids:
                continue
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        update(messages).where(messages.c.id.in_(ids))
                        .values(available_at=utcnow() + self.visibility)
                    )  # fmt: skip
            except Exception:
                log.exception("extending queued messages failed")

    def wait_idle(self, timeout: float) -> bool:
        """Whether every message was handled within ``timeout`` seconds (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.engine.connect().execution_options(readonly=True) as conn:
                if conn.execute(select(messages.c.id).limit(1)).first() is None:
                    return True
            time.sleep(0.05)
        return False
