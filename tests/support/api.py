"""A small client for the API, shared by tests that drive it in-process or over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from tests.support.blobs import verification_link

TERMINAL = ("processed", "failed")
PASSWORD = "correct horse battery"


class ApiClient:
    """Signs up once and sends requests with its token (Flask test client)."""

    def __init__(self, client: FlaskClient, username: str = "alice") -> None:
        self.client = client
        response = client.post(
            "/api/auth/signup",
            json={
                "username": username,
                "email": f"{username}@example.com",
                "password1": PASSWORD,
                "password2": PASSWORD,
            },
        )
        assert response.status_code == 201, response.get_json()
        self.email = f"{username}@example.com"
        self.username = username
        self.user_id = response.get_json()["id"]
        self.headers = {"Authorization": f"Bearer {response.get_json()['token']}"}

    def upload(self, path: Path, new_format: str, name: str | None = None, **fields: str) -> Any:
        """POST the file as a form, with its target format and any other form fields."""
        with path.open("rb") as fh:
            return self.client.post(
                "/api/tasks",
                data={"fileName": (fh, name or path.name), "newFormat": new_format, **fields},
                headers=self.headers,
                content_type="multipart/form-data",
            )

    def get(self, url: str) -> Any:
        return self.client.get(url, headers=self.headers)

    def relogin(self) -> None:
        """Log in again: a new token (after this one was logged out)."""
        response = self.client.post(
            "/api/auth/login", json={"username": self.username, "password": PASSWORD}
        )
        assert response.status_code == 200, response.get_json()
        self.headers = {"Authorization": f"Bearer {response.get_json()['token']}"}

    def verify_email(self, mail_folder: Path) -> None:
        """Follow the verification link mailed at sign-up (into ``mail_folder``, the
        embedded mailer's): completion mails go to verified addresses only."""
        link = verification_link(mail_folder, self.email)
        response = self.client.get(link)
        assert response.status_code == 200, response.get_json()

    def wait(self, task_id: int, timeout: float = 60, report: bool = False) -> dict[str, Any]:
        fetch = lambda: self.get(f"/api/tasks/{task_id}").get_json()  # noqa: E731
        return wait_for(fetch, timeout, report=report)

    def wait_album(self, batch_id: int, timeout: float = 90) -> list[dict[str, Any]]:
        """The batch's tasks once all are finished and no album gain is still due."""
        deadline = time.monotonic() + timeout
        while True:
            found: list[dict[str, Any]] = self.get(f"/api/batches/{batch_id}").get_json()["tasks"]
            if all(t["status"] in TERMINAL and not t.get("albumGain") for t in found):
                return found
            assert time.monotonic() < deadline, found
            time.sleep(0.1)


def wait_for(
    fetch: Callable[[], dict[str, Any]],
    timeout: float = 60,
    revision: int | None = None,
    report: bool = False,
) -> dict[str, Any]:
    """Poll a task until it is processed or failed (at the given revision); with
    ``report``, until its report pass ran too (loudness, exact duration, waveform)."""
    deadline = time.monotonic() + timeout
    while True:
        task = fetch()
        done = task["status"] in TERMINAL and not (report and task.get("report") == "due")
        if done and (revision is None or task["revision"] == revision):
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task did not finish in {timeout}s: {task}")
        time.sleep(0.1)
