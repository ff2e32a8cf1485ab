"""A direct upload through the API: start it, PUT the file to the ticket's URL, wait
for the task it becomes."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from tests.support.api import ApiClient


def start_upload(api: ApiClient, name: str, fmt: str, **options: str) -> dict[str, Any]:
    """``POST /api/uploads``: the ticket (asserted 201)."""
    response = api.client.post(
        "/api/uploads", json={"fileName": name, "newFormat": fmt, **options}, headers=api.headers
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def put_file(api: ApiClient, ticket: dict[str, Any], data: bytes) -> Any:
    """PUT ``data`` to the ticket's URL with its headers; the response."""
    url = urlsplit(ticket["url"])
    return api.client.put(f"{url.path}?{url.query}", data=data, headers=ticket["headers"])


def upload_status(api: ApiClient, upload_id: str) -> dict[str, Any]:
    """The task the upload became, polled for until it is one (at most 30 s)."""
    deadline = time.monotonic() + 30
    while (response := api.get(f"/api/uploads/{upload_id}")).status_code == 202:
        assert time.monotonic() < deadline, "the upload never became a task"
        time.sleep(0.05)
    assert response.status_code == 200
    return dict(response.get_json())
