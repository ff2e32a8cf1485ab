"""The embedded default: API, worker and notifier in one process tree, no cloud.

gunicorn serves the API from one worker process; inside it the in-process bus
runs conversions on a pool as wide as the machine has cores, and a sweeper
republishes whatever the database says is still due (at start-up, every task a
dead process left behind; then every half minute, anything whose message was lost).
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import sys
import threading
from typing import IO, Any

from gunicorn.app.base import BaseApplication
from gunicorn.http import wsgi as gunicorn_wsgi

from audioconv import bootstrap, migrate
from audioconv.config import Settings
from audioconv.services import recovery

log = logging.getLogger(__name__)
SWEEP_INTERVAL = 30.0


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from audioconv.entrypoints.api import create_app

        return create_app()


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


def start_background(stop: threading.Event) -> threading.Thread:
    """Reclaim what a previous run left unfinished, then sweep periodically."""

    def loop() -> None:
        reclaim = True  # until the start-up reclaim has succeeded once
        while True:
            try:
                recovery.sweep(bootstrap.deps(), reclaim=reclaim)
                reclaim = False
            except Exception:
                log.exception("sweep failed; retried in %.0f s", SWEEP_INTERVAL)
            if stop.wait(SWEEP_INTERVAL):
                return

    thread = threading.Thread(target=loop, name="sweeper", daemon=True)
    thread.start()
    return thread


def serve(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    lock = _lock_data_dir(settings)
    # Temporary files of conversions a previous run was killed in (we hold the lock).
    shutil.rmtree(settings.data_dir / "work", ignore_errors=True)
    migrate.upgrade()
    stop = threading.Event()

    def post_worker_init(worker: Any) -> None:
        start_background(stop)

    def worker_exit(server: Any, worker: Any) -> None:
        # Kills running ffmpeg children (their tasks are released, not failed), waits
        # for the bus's threads to let go, and closes the database pool.
        stop.set()
        bootstrap.deps().close()

    # gunicorn builds each response from this module attribute (wsgi.create).
    gunicorn_wsgi.Response = _Response

    def when_ready(server: Any) -> None:
        print(f"audioconv is running: open http://localhost:{settings.port}/", flush=True)

    _Server(
        {
            "bind": f"0.0.0.0:{settings.port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": 16,
            "timeout": 120,
            "graceful_timeout": 10,
            "post_worker_init": post_worker_init,
            "worker_exit": worker_exit,
            "when_ready": when_ready,
            "accesslog": "-",
            "control_socket_disable": True,
        }
    ).run()
    lock.close()
