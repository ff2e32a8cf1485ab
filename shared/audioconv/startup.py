"""Where every process of the service starts: its settings, logging (once), its
dependencies.

Every server process goes through here, and only here:

- ``audioconv serve`` (embedded.serve), the supervisor, and its children
  ``python -m audioconv.embedded api|worker`` (embedded.main);
- ``audioconv pull-worker``, the cloud worker (entrypoints/pull_worker.main);
- ``audioconv function api|convert|notify``, one function under functions-framework,
  and the three ``functions/*/main.py`` it (or App Engine standard) loads;
- ``audioconv migrate`` and ``audioconv sweep`` (cli.py).

``start(role)`` is the whole of it; ``settings(role)`` is its first half, for a
process that has work to do before it builds its adapters (the supervisor migrates
first; gunicorn's master forks its workers, which build their own).
"""

from __future__ import annotations

import logging
from typing import Literal

from audioconv import bootstrap, logs
from audioconv.config import LogSettings, Settings
from audioconv.services.dependencies import Dependencies

Role = Literal["serve", "api", "worker", "pull-worker", "function", "migrate", "sweep"]

log = logging.getLogger(__name__)
# What the root handler was installed with in this process (inherited across a fork).
_configured: list[LogSettings] = []


def configure_logging() -> None:
    """The one redacting root handler (logs.configure), installed once per process
    (again only if its settings changed); JSON lines on Google Cloud or with
    AUDIOCONV_LOG_FORMAT=json."""
    wanted = LogSettings()
    if _configured != [wanted]:
        logs.configure(wanted)
        _configured[:] = [wanted]


def settings(role: Role, given: Settings | None = None) -> Settings:
    """This process's settings (``given``, or read from the environment) with logging
    configured and every secret resolved and hidden from the logs."""
    configure_logging()
    resolved = bootstrap.resolve_secrets(given if given is not None else Settings())
    log.debug("%s: settings read", role)
    return resolved


def start(role: Role, given: Settings | None = None) -> Dependencies:
    """Settings, logging once, and the dependencies built from them (bootstrap.build)."""
    return bootstrap.build(settings(role, given))
