"""The embedded default: API, workers and notifier as a small process tree, no cloud.

``audioconv serve`` is a supervisor. It holds the data folder's lock, migrates
the database, removes what a killed run left half-stored, then runs its children
and restarts any that dies:

- ``api``: gunicorn with one process per core (``api_workers``), each publishing
  conversion requests into the database's message queue;
- ``worker``: K processes (``worker_processes``; auto: one per
  ``SLOTS_PER_WORKER_PROCESS`` slots, so one on a small machine) that share the
  machine's conversion slots (``max_concurrent_conversions``) exactly, each
  consuming the queue with its share, running ffmpeg at the lowest CPU priority
  and sending the notifications. Each gets a name from the supervisor
  (``worker_id``, new at every start) that its task claims and queue rows carry.

The supervisor itself sweeps. Before any worker starts it gives back every task
and message a previous run left held (no process can be converting them: it
holds the lock); then every ``SWEEP_INTERVAL`` it republishes whatever the
database says is still due. When a worker process dies alone (a crash, a kill),
the supervisor gives back exactly that process's tasks and messages before
starting its replacement, so they run again at once, not after their lease;
the other workers' claims carry other names and are never touched.

The database is the record of what is due, so any process may die at any moment.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import sys
import threading
from typing import IO, Any

from gunicorn.app.base import BaseApplication
from gunicorn.http import wsgi as gunicorn_wsgi

from audioconv import bootstrap, gunicorn_worker, migrate, spool, startup, supervisor
from audioconv.adapters import queue_wakeup
from audioconv.config import Settings
from audioconv.domain import fair_share
from audioconv.services import recovery
from audioconv.services.conversion import WORK_PREFIX
from audioconv.services.dependencies import Dependencies
from audioconv.services.direct_uploads import INCOMING
from audioconv.supervisor import Child, Children

log = logging.getLogger("audioconv.embedded")  # also when run as __main__


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

        self.deps = startup.start("api", self.settings)
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


# Files the server writes (database, blobs, mails, keys, spool) are its own alone:
# 0600 files, 0700 folders; the database holds password hashes and webhook secrets.
PRIVATE_UMASK = 0o077


def _private_data_dir(settings: Settings) -> None:
    """Make what is written from now on private to this user, and what an older run
    left readable by others private too (files 0600, folders 0700)."""
    os.umask(PRIVATE_UMASK)
    for root in dict.fromkeys((settings.data_dir, settings.resolved_work_dir)):
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        for top, folders, files in os.walk(root):
            for name in folders:
                _restrict(os.path.join(top, name), 0o700)
            for name in files:
                _restrict(os.path.join(top, name), 0o600)


def _restrict(path: str, mode: int) -> None:
    try:
        if os.lstat(path).st_mode & 0o077:
            os.chmod(path, mode, follow_symlinks=False)
    except (FileNotFoundError, NotImplementedError):  # gone, or a symlink on Linux
        pass


def _lock_data_dir(settings: Settings) -> IO[str]:
    """One embedded server per data folder: it alone may reclaim unfinished tasks."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    handle = (settings.data_dir / ".lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"another audioconv server is using {settings.data_dir.resolve()}")
    return handle


# --- the children --------------------------------------------------------------------


def run_api(settings: Settings) -> None:
    """The HTTP API: gunicorn, one process per core, threads for slow clients."""

    # gunicorn builds each response from this module attribute (wsgi.create).
    gunicorn_wsgi.Response = _Response
    gunicorn_worker.install()

    def when_ready(server: Any) -> None:
        print(f"audioconv is running: open http://localhost:{settings.port}/", flush=True)

    def child_exit(server: Any, worker: Any) -> None:
        """In the master, when a worker exits (also killed): its spool files go now."""
        spool.sweep(settings.resolved_work_dir / INCOMING, dead=worker.pid)

    _Server(
        settings,
        {
            "bind": f"0.0.0.0:{settings.port}",
            "workers": settings.api_workers or (os.cpu_count() or 1),
            # gthread, reading each request whole in its event loop before a thread
            # takes it (slow clients hold no thread: gunicorn_worker.py).
            "worker_class": settings.api_worker_class
            or "audioconv.gunicorn_worker.BufferingThreadWorker",
            "threads": 8,
            "timeout": 120,
            "graceful_timeout": 10,
            "when_ready": when_ready,
            "child_exit": child_exit,
            # The app logs each request (without its query string); gunicorn's
            # errors go through our handler.
            "logger_class": "audioconv.gunicorn_logging.GunicornLogger",
            "control_socket_disable": True,
            "umask": PRIVATE_UMASK,
            # With setproctitle installed, gunicorn renames its processes: keep the
            # role in the name ("gunicorn: worker [audioconv.embedded api]").
            "proc_name": "audioconv.embedded api",
        },
    ).run()


def run_worker(settings: Settings) -> None:
    """Conversions and notifications from the queue, in this process's share of the
    slots, until SIGTERM (the supervisor sweeps)."""
    deps = startup.start("worker", settings)
    consumer = bootstrap.queue_consumer(deps)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    consumer.start()
    log.info("worker process %s: %d conversion slots", settings.worker_id or "-",
             settings.conversion_slots)  # fmt: skip
    stop.wait()
    # Kills running ffmpeg children (their tasks are released, their messages come
    # back), lets the consumer's threads finish, and closes the database pool.
    deps.close()


# --- the supervisor ------------------------------------------------------------------


def _remove_temporary_files(settings: Settings) -> None:
    """Temporary files of uploads and conversions a previous run was killed in (we hold
    the lock); only ours: the work folder may be shared."""
    work = settings.resolved_work_dir
    shutil.rmtree(work / INCOMING, ignore_errors=True)
    for folder in work.glob(f"{WORK_PREFIX}*"):
        shutil.rmtree(folder, ignore_errors=True)


def serve(settings: Settings) -> None:
    """Run the process tree until SIGINT or SIGTERM; restart a child that dies.
    ``settings`` from ``startup.settings`` (``audioconv serve``)."""
    _private_data_dir(settings)
    lock = _lock_data_dir(settings)
    _remove_temporary_files(settings)
    migrate.upgrade(settings=settings)
    env = dict(os.environ)
    if settings.event_backend == "inprocess":  # across processes: the database queue
        env["AUDIOCONV_EVENT_BACKEND"] = "queue"
        settings = settings.model_copy(update={"event_backend": "queue"})
    # Fair share counts every worker process's conversions: its default cap is half of
    # the machine's slots, not of one process's share.
    cap = settings.user_conversion_slots or fair_share.default_cap(settings.conversion_slots)
    env["AUDIOCONV_USER_CONVERSION_SLOTS"] = str(cap)
    # SQLite has no NOTIFY: a socket pair per worker process wakes it when a message is
    # queued (the API processes, the workers and the sweeps hold the sending ends).
    sqlite = settings.resolved_database_url.startswith("sqlite")
    pairs = queue_wakeup.socket_pairs(len(settings.worker_slot_shares) if sqlite else 0)
    senders = tuple(sending.fileno() for _, sending in pairs)
    if senders:
        env["AUDIOCONV_WAKE_FDS"] = ",".join(map(str, senders))
        settings = settings.model_copy(update={"wake_fds": env["AUDIOCONV_WAKE_FDS"]})
    deps = startup.start("serve", settings)  # the supervisor's own: sweeps and releases
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    children = Children(deps, env)
    try:
        # Files a killed run stored but never recorded; before serving, as nothing writes.
        recovery.collect_garbage(deps)
        children.start(Child("api", fds=senders))
        if supervisor.reclaim_at_start_up(deps, stopping):
            for index, slots in enumerate(settings.worker_slot_shares):
                wake = pairs[index][0].fileno() if pairs else None
                children.start(Child("worker", slots, fds=senders, wake_fd=wake))
            sweeper = supervisor.start_sweeper(deps, stopping)
            while not stopping.wait(0.5):
                children.restart_dead()
            sweeper.join(timeout=10)
        children.stop()
    finally:
        deps.close()
        for pair in pairs:
            for end in pair:
                end.close()
        lock.close()


def main(argv: list[str]) -> None:
    """Entry point of the children: ``python -m audioconv.embedded api|worker [name]``
    (started by the supervisor, not by hand), through ``startup`` as every process."""
    os.umask(PRIVATE_UMASK)  # (inherited from the supervisor too)
    if argv[0] == "api":
        run_api(startup.settings("api"))
    elif argv[0] == "worker":
        run_worker(startup.settings("worker"))
    else:
        sys.exit(f"audioconv.embedded: a child is api or worker, not {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
