"""Readiness: whether the database, the blob store and ffmpeg answer.

Each check runs through its port (a trivial query, ``BlobStore.check``,
``Transcoder.check``), the three at once, each in its own thread. A check is
waited on for at most ``timeout`` seconds; one still running is not started
again (a hung database cannot pile up threads), and a passing result is reused
for a few seconds (ffmpeg's for a minute; the database is asked every time), so
frequent probes stay cheap.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from audioconv.services.dependencies import Dependencies

log = logging.getLogger(__name__)


def _database(deps: Dependencies) -> None:
    with deps.uow(readonly=True) as uow:
        # A query by primary key: the schema is there and answers. Any id would do
        # (mutating it is equivalent).
        uow.users.get(0)  # pragma: no mutate


def _blob_store(deps: Dependencies) -> None:
    deps.blobs.check()


def _ffmpeg(deps: Dependencies) -> None:
    deps.transcoder.check()


# name -> (check, seconds a pass is reused)
CHECKS: Mapping[str, tuple[Callable[[Dependencies], None], float]] = {
    "database": (_database, 0.0),
    "blobStore": (_blob_store, 5.0),
    "ffmpeg": (_ffmpeg, 60.0),
}
OK, FAILING, TIMEOUT = "ok", "failing", "timeout"


@dataclass(frozen=True)
class Report:
    """Each check's state: ``ok``, ``failing`` or ``timeout`` (still running)."""

    checks: Mapping[str, str]

    @property
    def ready(self) -> bool:
        return all(state == OK for state in self.checks.values())

    @property
    def failing(self) -> list[str]:
        return [name for name, state in self.checks.items() if state != OK]


class Readiness:
    """Runs the checks; one per process (it remembers passes and running checks)."""

    def __init__(self, timeout: float = 3.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._passed_until: dict[str, float] = {}
        self._running: dict[str, Future[str]] = {}

    def check(self, deps: Dependencies) -> Report:
        states: dict[str, str] = {}
        waiting: dict[str, Future[str]] = {}
        now = self.clock()
        with self._lock:
            for name, (run, _) in CHECKS.items():
                if self._passed_until.get(name, 0.0) > now:
                    states[name] = OK
                    continue
                if name not in self._running:
                    self._running[name] = self._start(name, run, deps)
                waiting[name] = self._running[name]
        deadline = time.monotonic() + self.timeout
        for name, future in waiting.items():
            try:
                states[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                log.warning("readiness: the %s check is still running after %.0f s",
                            name, self.timeout)  # fmt: skip
                states[name] = TIMEOUT
        return Report({name: states[name] for name in CHECKS})

    def _start(
        self, name: str, run: Callable[[Dependencies], None], deps: Dependencies
    ) -> Future[str]:
        future: Future[str] = Future()

        def target() -> None:
            try:
                run(deps)
            except Exception as exc:
                # The reason goes to the log (redacted), not to the unauthenticated caller.
                log.warning("readiness: %s is not ready: %s: %s", name, type(exc).__name__, exc)
                state = FAILING
            else:
                state = OK
            with self._lock:
                if state == OK:
                    self._passed_until[name] = self.clock() + CHECKS[name][1]
                del self._running[name]
            future.set_result(state)

        # In a copy of the caller's context: its log lines carry the probe's request id.
        context = contextvars.copy_context()
        threading.Thread(
            target=context.run, args=(target,), name=f"readyz-{name}", daemon=True
        ).start()
        return future
