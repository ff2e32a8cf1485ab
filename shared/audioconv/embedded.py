"""The embedded default: API, worker and notifier as a small process tree, no cloud.

``audioconv serve`` is a supervisor. It holds the data folder's lock, migrates
the database, removes what a killed run left half-stored, then runs two
children and restarts either if it dies:

- ``api``: gunicorn with one process per core (``api_workers``), each publishing
  conversion requests into the database's message queue;
- ``worker``: one process for the machine that consumes the queue with a
  bounded pool (``max_concurrent_conversions``), runs ffmpeg at the lowest CPU
  priority, sends the notifications, and sweeps: at start-up it gives back every
  task a dead process left behind, then every half minute it republishes
  whatever the database says is still due.

The database is the record of what is due, so any process may die at any moment.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Any

from gunicorn.app.base import BaseApplication
from gunicorn.http import wsgi as gunicorn_wsgi

from audioconv import bootstrap, logs, migrate
from audioconv.config import Settings
from audioconv.entrypoints.uploads import INCOMING
from audioconv.services import recovery
from audioconv.services.conversion import WORK_PREFIX
from audioconv.services.dependencies import Dependencies

log = logging.getLogger(__name__)
SWEEP_INTERVAL = 30.0
CHILDREN = ("api", "worker")


class _Server(BaseApplication):  # type: ignore[misc]
    """gunicorn serving the API; each worker process builds its own dependencies."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        self.deps: Dependencies | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("worker_exit", lambda _arbiter, _worker: self.close())

    def load(self) -> Any:
        """In the worker process, after the fork: its adapters and its app."""
        from audioconv.entrypoints.api import create_app

        self.deps = bootstrap.build(self.settings)
        return create_app(self.deps)

    def close(self) -> None:
        """In the worker process, as it exits: release what ``load`` built."""
        if self.deps is not None:
            self.deps.close()


class _Response(gunicorn_wsgi.Response):  # type: ignore[misc]
    """gunicorn's HTTP/1 response without its ``Server: gunicorn`` header (it tells an
    attacker what to look up), and closing the connection when the app answers
    ``Connection: close`` (a 413 whose body was never read), which gunicorn drops."""

    def process_headers(self, headers: list[tuple[str, str]]) -> None:
        super().process_headers(headers)
        if any(k.lower() == "connection" and v.strip().lower() == "close" for k, v in headers):
            self.force_close()

    def default_headers(self) -> list[str]:
        return [h for h in super().default_headers() if not h.startswith("Server:")]


def _lock_data_dir(settings: Settings) -> IO[str]:
    """One embedded server per data folder: it alone may reclaim unfinished tasks."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    handle = (settings.data_dir / ".lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"another audioconv server is using {settings.data_dir.resolve()}")
    return handle


def start_sweeper(deps: Dependencies, stop: threading.Event) -> threading.Thread:
    """Reclaim what a previous run left unfinished, then sweep periodically."""

    def loop() -> None:
        reclaim = True  # until the start-up reclaim has succeeded once
        while True:
            try:
                recovery.sweep(deps, reclaim=reclaim)
                reclaim = False
            except Exception:
                log.exception("sweep failed; retried in %.0f s", SWEEP_INTERVAL)
            if stop.wait(SWEEP_INTERVAL):
                return

    thread = threading.Thread(target=loop, name="sweeper", daemon=True)
    thread.start()
    return thread


def _logging() -> None:
    logs.configure()


# --- the children --------------------------------------------------------------------


def run_api(settings: Settings) -> None:
    """The HTTP API: gunicorn, one process per core, threads for slow clients."""

    # gunicorn builds each response from this module attribute (wsgi.create).
    gunicorn_wsgi.Response = _Response

    def when_ready(server: Any) -> None:
        print(f"audioconv is running: open http://localhost:{settings.port}/", flush=True)

    _Server(
        settings,
        {
            "bind": f"0.0.0.0:{settings.port}",
            "workers": settings.api_workers or (os.cpu_count() or 1),
            "worker_class": "gthread",
            "threads": 8,
            "timeout": 120,
            "graceful_timeout": 10,
            "when_ready": when_ready,
            # The app logs each request (without its query string); gunicorn's
            # errors go through our handler.
            "logger_class": "audioconv.gunicorn_logging.GunicornLogger",
            "control_socket_disable": True,
            # With setproctitle installed, gunicorn renames its processes: keep the
            # role in the name ("gunicorn: worker [audioconv.embedded api]").
            "proc_name": "audioconv.embedded api",
        },
    ).run()


def run_worker(settings: Settings) -> None:
    """Conversions and notifications from the queue, and the sweeper, until SIGTERM."""
    deps = bootstrap.build(settings)
    consumer = bootstrap.queue_consumer(deps)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    consumer.start()
    sweeper = start_sweeper(deps, stop)
    stop.wait()
    # Kills running ffmpeg children (their tasks are released, their messages come
    # back), lets the consumer's threads finish, and closes the database pool.
    deps.close()
    sweeper.join(timeout=5)


# --- the supervisor ------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the supervisor dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _spawn(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    preexec = _die_with_parent if sys.platform == "linux" else None
    args = [sys.executable, "-m", "audioconv.embedded", name]
    return subprocess.Popen(args, env=env, preexec_fn=preexec)


def serve(settings: Settings | None = None) -> None:
    """Run the process tree until SIGINT or SIGTERM; restart a child that dies."""
    settings = settings or Settings()
    _logging()
    lock = _lock_data_dir(settings)
    # Temporary files of uploads and conversions a previous run was killed in (we hold
    # the lock); only ours: the work folder may be shared.
    work = settings.resolved_work_dir
    shutil.rmtree(work / INCOMING, ignore_errors=True)
    for folder in work.glob(f"{WORK_PREFIX}*"):
        shutil.rmtree(folder, ignore_errors=True)
    migrate.upgrade()
    # Files a killed run stored but never recorded; before serving, as nothing writes yet.
    cleaner = bootstrap.build(settings)
    try:
        recovery.collect_garbage(cleaner)
    finally:
        cleaner.close()

    env = dict(os.environ)
    if settings.event_backend == "inprocess":  # across processes: the database queue
        env["AUDIOCONV_EVENT_BACKEND"] = "queue"
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    children = {name: _spawn(name, env) for name in CHILDREN}
    while not stopping.wait(0.5):
        for name, proc in children.items():
            if proc.poll() is not None:
                log.error("the %s process exited with %s; restarting it", name, proc.returncode)
                time.sleep(1.0)
                children[name] = _spawn(name, env)
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in children.values():
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    lock.close()


def main(argv: list[str]) -> None:
    """Entry point of the children: ``python -m audioconv.embedded api|worker``."""
    _logging()
    settings = Settings()
    {"api": run_api, "worker": run_worker}[argv[0]](settings)


if __name__ == "__main__":
    main(sys.argv[1:])
