"""The supervisor of ``audioconv serve`` (embedded.py): its children, started and
restarted, and the sweeps, which run here and nowhere else.

A worker process's name (``worker_id``) is new at each start and rides on its task
claims and queue rows, so when one dies its own work, and only its own, comes back
at once (``release_worker``) before its replacement starts.
"""

from __future__ import annotations

import functools
import itertools
import logging
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from audioconv import spool
from audioconv.adapters.sql_queue import SqlQueueBus
from audioconv.parent_death import die_with_parent
from audioconv.services import recovery
from audioconv.services.dependencies import Dependencies
from audioconv.services.direct_uploads import INCOMING

log = logging.getLogger(__name__)
SWEEP_INTERVAL = 30.0
RECLAIM_RETRY = 2.0


def reclaim_at_start_up(deps: Dependencies, stopping: threading.Event) -> bool:
    """Give back every task and queued message a previous run left held (before any
    worker process starts), retrying until it succeeds; False if stopped first."""
    while True:
        try:
            recovery.sweep(deps, reclaim=True)
            _release_messages(deps, None)
            return True
        except Exception:
            log.exception("the start-up reclaim failed; retried in %.0f s", RECLAIM_RETRY)
        if stopping.wait(RECLAIM_RETRY):
            return False


def _release_messages(deps: Dependencies, holder: str | None) -> None:
    """Show again the queued messages ``holder`` (None: any process) was handling."""
    if isinstance(deps.bus, SqlQueueBus):  # the embedded queue; other buses hold none
        deps.bus.release_held(holder)


def release_worker(deps: Dependencies, worker_id: str) -> None:
    """What a dead worker process held, back at once: its tasks (republished), then
    its queued messages. If the database is away, their leases run out instead."""
    try:
        recovery.release_claims(deps, worker_id)
        _release_messages(deps, worker_id)
    except Exception:
        log.exception("releasing worker process %s's work failed; left to the sweep", worker_id)


def sweep_spool(deps: Dependencies) -> None:
    """Remove the request bodies API processes that died were receiving (spool.py)."""
    spool.sweep(deps.settings.resolved_work_dir / INCOMING)


def start_sweeper(deps: Dependencies, stop: threading.Event) -> threading.Thread:
    """Sweep every ``SWEEP_INTERVAL`` until ``stop`` (the supervisor's thread)."""

    def loop() -> None:
        while not stop.wait(SWEEP_INTERVAL):
            try:
                sweep_spool(deps)
                recovery.sweep(deps)
            except Exception:
                log.exception("sweep failed; retried in %.0f s", SWEEP_INTERVAL)

    thread = threading.Thread(target=loop, name="sweeper", daemon=True)
    thread.start()
    return thread


# Loaded before any fork: the supervisor has threads (the sweeper), and a child between
# fork and exec must not take the dynamic loader's lock another thread may have held.
@dataclass(eq=False)
class Child:
    """One child of the supervisor; a worker's name changes at each start."""

    role: str
    slots: int = 0  # a worker's share of the conversion slots
    worker_id: str = ""
    proc: subprocess.Popen[bytes] | None = None
    # The queue's wake-up sockets it inherits (queue_wakeup): the sending ends, and a
    # worker's own receiving end (kept across restarts: nothing is lost between).
    fds: tuple[int, ...] = ()
    wake_fd: int | None = None


class Children:
    """The supervisor's children: started, restarted when one dies, stopped."""

    def __init__(self, deps: Dependencies, env: dict[str, str]) -> None:
        self.deps = deps
        self.env = env
        self.children: list[Child] = []
        self._names = itertools.count(1)

    def start(self, child: Child) -> None:
        env = dict(self.env)
        args = [sys.executable, "-m", "audioconv.embedded", child.role]
        if child.role == "worker":
            child.worker_id = f"w{next(self._names)}"
            env["AUDIOCONV_WORKER_ID"] = child.worker_id
            env["AUDIOCONV_MAX_CONCURRENT_CONVERSIONS"] = str(child.slots)
            args.append(child.worker_id)  # for ps; the process reads its settings
        fds = child.fds
        if child.wake_fd is not None:
            env["AUDIOCONV_WAKE_FD"] = str(child.wake_fd)
            fds += (child.wake_fd,)
        # SIGTERM when the supervisor dies, even by SIGKILL: the child stops cleanly.
        preexec = functools.partial(die_with_parent, signal.SIGTERM)
        child.proc = subprocess.Popen(args, env=env, preexec_fn=preexec, pass_fds=fds)
        if child not in self.children:
            self.children.append(child)

    def restart_dead(self) -> None:
        """Restart each child that exited; a worker's tasks are released first."""
        for child in self.children:
            assert child.proc is not None
            if child.proc.poll() is None:
                continue
            name = f"{child.role} {child.worker_id}".strip()
            log.error("the %s process exited with %s; restarting it", name, child.proc.returncode)
            if child.worker_id:
                release_worker(self.deps, child.worker_id)
            else:  # the API: what its processes were receiving
                sweep_spool(self.deps)
            time.sleep(1.0)
            self.start(child)

    def stop(self) -> None:
        """SIGTERM every child, wait for it (killed after 20 s), and give back what a
        worker that could not finish still held."""
        running = [c.proc for c in self.children if c.proc is not None]
        for proc in running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in running:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for child in self.children:
            if child.worker_id:
                release_worker(self.deps, child.worker_id)
