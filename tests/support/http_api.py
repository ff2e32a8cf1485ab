"""A client for the API over real HTTP (servers started as processes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
import requests

from tests.support.api import wait_for
from tests.support.blobs import verification_link


class HttpApi:
    """Signs up on ``base`` and calls the API with the token it got."""

    def __init__(self, base: str, username: str = "user", password: str = "s3cret-pass") -> None:
        self.base = base
        body = {"username": username, "email": f"{username}@example.com",
                "password1": password, "password2": password}  # fmt: skip
        response = requests.post(f"{base}/api/auth/signup", json=body, timeout=30)
        assert response.status_code == 201, response.text
        login = requests.post(f"{base}/api/auth/login", timeout=30,
                              json={"username": username, "password": password})  # fmt: skip
        assert login.status_code == 200, login.text
        self.token = str(login.json()["token"])
        self.email = f"{username}@example.com"
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def verify_email(self, mail_folder: Path) -> None:
        """Follow the verification link mailed at sign-up (into ``mail_folder``, the
        embedded mailer's): completion mails go to verified addresses only."""
        link = verification_link(mail_folder, self.email)
        response = requests.get(f"{self.base}{link}", timeout=30)
        assert response.status_code == 200, response.text

    @property
    def user_id(self) -> int:
        return int(jwt.decode(self.token, options={"verify_signature": False})["sub"])

    def post_file(self, path: Path, new_format: str, **fields: str) -> requests.Response:
        with path.open("rb") as fh:
            return requests.post(
                f"{self.base}/api/tasks", headers=self.headers, timeout=600,
                files={"fileName": (path.name, fh)}, data={"newFormat": new_format, **fields},
            )  # fmt: skip

    def upload(self, path: Path, new_format: str) -> dict[str, Any]:
        response = self.post_file(path, new_format)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return requests.get(f"{self.base}{url}", headers=self.headers, timeout=60, **kwargs)

    def task(self, task_id: int) -> dict[str, Any]:
        return dict(self.get(f"/api/tasks/{task_id}").json())

    def wait(self, task_id: int, timeout: float = 60, report: bool = False) -> dict[str, Any]:
        return wait_for(lambda: self.task(task_id), timeout, report=report)

    def download(self, url: str, dest: Path) -> Path:
        with self.get(url, stream=True) as response:
            assert response.status_code == 200, response.text
            with dest.open("wb") as out:
                for chunk in response.iter_content(1 << 16):
                    out.write(chunk)
        return dest
