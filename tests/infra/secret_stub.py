"""A stub of google-cloud-secret-manager's client class (there is no emulator).

It is a third-party API, not one of our ports, so the stub mimics just what the
code calls: the client as a context manager and ``access_secret_version(name=)``,
answering NotFound (as the service does) for a version it does not hold.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from google.api_core.exceptions import NotFound
from google.cloud import secretmanager


class StubSecretManager:
    """Holds ``versions`` (resource name -> value); counts clients and reads."""

    versions: ClassVar[dict[str, str]] = {}
    clients: ClassVar[int] = 0
    accessed: ClassVar[list[str]] = []

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch, versions: dict[str, str]) -> None:
        monkeypatch.setattr(cls, "versions", dict(versions))
        monkeypatch.setattr(cls, "clients", 0)
        monkeypatch.setattr(cls, "accessed", [])
        monkeypatch.setattr(secretmanager, "SecretManagerServiceClient", cls)

    def __init__(self, **_options: Any) -> None:
        type(self).clients += 1

    def __enter__(self) -> StubSecretManager:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def access_secret_version(self, *, name: str) -> Any:
        self.accessed.append(name)
        if name not in self.versions:
            raise NotFound(f"Secret Version [{name}] not found.")
        return SimpleNamespace(payload=SimpleNamespace(data=self.versions[name].encode()))
