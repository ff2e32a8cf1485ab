"""Where the client keeps its server and token: the user's config dir, 0600.

``AUDIOCONV_SERVER`` and ``AUDIOCONV_TOKEN`` override what is stored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_config_path

DEFAULT_SERVER = "http://localhost:8080"


@dataclass(frozen=True)
class Login:
    server: str
    token: str | None


def credentials_path() -> Path:
    return user_config_path("audioconv") / "credentials.json"


def _stored() -> dict[str, str]:
    try:
        data = json.loads(credentials_path().read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def current(server: str | None = None) -> Login:
    """The server (``server`` > env > stored > default) and token (env > stored) to use."""
    stored = _stored()
    chosen = server or os.environ.get("AUDIOCONV_SERVER") or stored.get("server")
    chosen = (chosen or DEFAULT_SERVER).rstrip("/")
    token = os.environ.get("AUDIOCONV_TOKEN") or None
    if token is None and stored.get("server", "").rstrip("/") == chosen:
        token = stored.get("token") or None
    return Login(chosen, token)


def save(login: Login) -> Path:
    """Store ``login`` readable by its owner only; returns the file written."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file already existed with wider permissions
    with os.fdopen(fd, "w") as out:
        json.dump({"server": login.server, "token": login.token}, out)
    return path


def forget() -> bool:
    """Remove the stored login; False if there was none."""
    try:
        credentials_path().unlink()
    except FileNotFoundError:
        return False
    return True
