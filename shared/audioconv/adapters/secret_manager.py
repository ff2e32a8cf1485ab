"""Secrets read from Google Secret Manager, once, at start-up (bootstrap.resolve_secrets)."""

from __future__ import annotations

from collections.abc import Mapping

from google.api_core.exceptions import GoogleAPICallError
from google.cloud import secretmanager


class SecretUnavailable(Exception):
    """A secret version could not be read (missing, disabled, no permission)."""


def read_secrets(names: Mapping[str, str]) -> dict[str, str]:
    """The value of each secret version, by the same keys; ``names`` are resource
    names, ``projects/P/secrets/S/versions/V`` (``latest`` is the newest enabled one).

    One client for all of them; the runtime account needs
    roles/secretmanager.secretAccessor on each secret.
    """
    values: dict[str, str] = {}
    with secretmanager.SecretManagerServiceClient() as client:
        for key, name in names.items():
            try:
                response = client.access_secret_version(name=name)
            except GoogleAPICallError as exc:
                raise SecretUnavailable(f"{name}: {exc.message}") from None
            values[key] = response.payload.data.decode()
    return values
