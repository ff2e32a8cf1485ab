"""Which routes an API key may call, and with which scope (domain/api_key.py).

One table, by endpoint (the route function's name): a route not in it takes a
log-in token only (making or revoking keys, the password, deleting the account,
logging out, the profile's settings), so a new route is closed to keys until it is
listed here. tests/integration/test_api_keys.py checks every route against it.
"""

from __future__ import annotations

from audioconv.domain.api_key import Scope
from audioconv.domain.errors import Forbidden
from audioconv.services.auth import Caller

KEY_SCOPES: dict[str, Scope] = {
    # Reading and downloading one's tasks, batches and presets.
    "list_tasks": Scope.READ,
    "get_task": Scope.READ,
    "task_file": Scope.READ,
    "file_by_name": Scope.READ,
    "task_waveform": Scope.READ,
    "list_batches": Scope.READ,
    "get_batch": Scope.READ,
    "batch_zip_download": Scope.READ,
    "upload_status": Scope.READ,
    "get_profile": Scope.READ,
    "list_presets": Scope.READ,
    "get_preset": Scope.READ,
    # Uploading, converting again and deleting one's tasks.
    "create_task": Scope.CONVERT,
    "change_format": Scope.CONVERT,
    "delete_task": Scope.CONVERT,
    "create_batch": Scope.CONVERT,
    "delete_batch": Scope.CONVERT,
    "start_upload": Scope.CONVERT,
}

LOGIN_ONLY = (
    "an API key cannot do this (API keys, the password, the account and its settings "
    "need a log-in token: POST /api/auth/login)"
)


def check(caller: Caller, endpoint: str | None) -> None:
    """Forbidden unless ``caller`` may call ``endpoint``: a log-in token may call any,
    an API key those its scopes include."""
    key = caller.api_key
    if key is None:
        return
    needed = KEY_SCOPES.get(endpoint or "")
    if needed is None:
        raise Forbidden(LOGIN_ONLY)
    if not key.allows(needed):
        raise Forbidden(
            f"this API key's scopes ({', '.join(key.scopes)}) do not include "
            f"{needed.value!r}, which this needs"
        )
