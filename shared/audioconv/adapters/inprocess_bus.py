"""In-process event bus for the embedded mode (one process, nothing to install).

It hands each published message, as a ``Message``, to the topic's handler on a
bounded thread pool per topic. A handler that raises is retried with backoff,
like a nacked Pub/Sub message. A message whose ``notBefore`` attribute names a
later time is delivered then. The queue lives in memory only: the database is
the record of what still has to run, and the start-up sweep republishes it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from audioconv.ports import Message, MessageHandler

log = logging.getLogger(__name__)


def not_before(attributes: dict[str, str]) -> datetime | None:
    """When a message with a ``notBefore`` attribute (ISO 8601) is due; None: now."""
    when = attributes.get("notBefore")
    if not when:
        return None
    try:
        due = datetime.fromisoformat(when)
    except ValueError:
        return None
    return due if due.tzinfo else due.replace(tzinfo=UTC)


class InProcessBus:
    """Publishes to handlers in this process; ``subscribe`` before publishing."""

    def __init__(self, max_attempts: int = 5, backoff_seconds: float = 2.0) -> None:
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self._subscribers: dict[str, tuple[MessageHandler, ThreadPoolExecutor]] = {}
        self._timers: set[threading.Timer] = set()
        # Messages queued, running or waiting to retry; a copy published meanwhile
        # (the sweep republishing what is still due) would only be duplicate work.
        self._pending: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._closed = False

    def subscribe(
        self, topic: str, handler: MessageHandler, workers: int, after: str | None = None
    ) -> None:
        """Deliver ``topic``'s messages to ``handler`` on ``workers`` threads; with
        ``after`` (a topic subscribed before), on that topic's threads instead, in the
        order published (this bus keeps no priorities: the database queue does)."""
        if after in self._subscribers:
            pool = self._subscribers[after][1]
        else:
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"bus-{topic}")
        self._subscribers[topic] = (handler, pool)

    def publish(self, topic: str, data: dict[str, Any], attributes: dict[str, str]) -> str:
        message_id = uuid.uuid4().hex
        if topic not in self._subscribers:
            log.warning("no subscriber for topic %s; message %s dropped", topic, message_id)
            return message_id
        key = (topic, json.dumps([data, attributes], sort_keys=True))
        with self._lock:
            if key in self._pending:
                return message_id
            self._pending.add(key)
        # The handler gets its own copy, as JSON as any other transport would carry it.
        copy, copy_attributes = json.loads(key[1])
        message = Message(message_id, copy, copy_attributes)
        due = not_before(attributes)
        delay = (due - datetime.now(UTC)).total_seconds() if due else 0.0
        if delay > 0:
            self._later(delay, topic, message, 1, key)
        else:
            self._submit(topic, message, 1, key)
        return message_id

    def _submit(self, topic: str, message: Message, attempt: int, key: tuple[str, str]) -> None:
        with self._lock:
            if self._closed:
                return
            self._subscribers[topic][1].submit(self._deliver, topic, message, attempt, key)

    def _deliver(self, topic: str, message: Message, attempt: int, key: tuple[str, str]) -> None:
        handler = self._subscribers[topic][0]
        try:
            handler(message)
        except Exception:
            if attempt >= self.max_attempts:
                log.exception(
                    "message %s on %s failed %d times; left to the sweep",
                    message.id, topic, attempt,
                )  # fmt: skip
                self._done(key)
                return
            delay = self.backoff_seconds * 2 ** (attempt - 1)
            log.warning(
                "message %s on %s failed (attempt %d); retrying in %.0fs",
                message.id, topic, attempt, delay, exc_info=True,
            )  # fmt: skip
            self._later(delay, topic, message, attempt + 1, key)
        else:
            self._done(key)

    def _later(
        self, delay: float, topic: str, message: Message, attempt: int, key: tuple[str, str]
    ) -> None:
        timer = threading.Timer(delay, self._retry, (topic, message, attempt, key))
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _done(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._pending.discard(key)

    def _retry(self, topic: str, message: Message, attempt: int, key: tuple[str, str]) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive()}
        self._submit(topic, message, attempt, key)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no message is queued, running or waiting to retry (at most
        ``timeout`` seconds); whether that came. For tests and orderly shutdowns."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if not self._pending:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def close(self, wait: bool = True) -> None:
        """Stop delivering; with ``wait``, let running handlers finish."""
        with self._lock:
            self._closed = True
            for timer in self._timers:
                timer.cancel()
        for pool in {id(pool): pool for _, pool in self._subscribers.values()}.values():
            pool.shutdown(wait=wait, cancel_futures=True)
