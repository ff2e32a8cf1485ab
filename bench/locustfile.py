"""The older service's load shape, and two more, for locust.

Scenarios (pick with ``--scenario`` in bench/load.py, or the user class on the
locust command line):
- ``LoginUpload``: each iteration logs in and uploads a ~4 MB, ~160 s MP3 for
  conversion to aac (the shape the older service was measured on);
- ``UploadLoop``: logs in once, then uploads in a loop;
- ``ReadHeavy``: lists its tasks, gets one, downloads a converted result.

Each simulated user signs up on start from its own loopback address
(127.0.0.N), as separate people would, so per-address throttles see 30 clients,
not one. The upload file is named by AUDIOCONV_BENCH_FILE.
"""

from __future__ import annotations

import functools
import itertools
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

from locust import HttpUser, constant, task
from requests_toolbelt.adapters.source import SourceAddressAdapter
from urllib3 import encode_multipart_formdata

PASSWORD = "load-test-password"
UPLOAD = Path(os.environ.get("AUDIOCONV_BENCH_FILE", "bench-upload.mp3"))
_addresses = itertools.count(2)


class _User(HttpUser):
    abstract = True
    wait_time = constant(0)

    def on_start(self) -> None:
        address = f"127.0.0.{next(_addresses) % 250 + 2}"
        for scheme in ("http://", "https://"):
            self.client.mount(scheme, SourceAddressAdapter(address))
        self.name = f"u{uuid.uuid4().hex[:12]}"
        body = {"username": self.name, "email": f"{self.name}@example.com",
                "password1": PASSWORD, "password2": PASSWORD}  # fmt: skip
        with self.client.post("/api/auth/signup", json=body, catch_response=True) as r:
            if r.status_code != 201:
                r.failure(f"sign-up {r.status_code}: {r.text[:200]}")
                return
            self.auth = {"Authorization": f"Bearer {r.json()['token']}"}

    def login(self) -> None:
        body = {"username": self.name, "password": PASSWORD}
        response = self.client.post("/api/auth/login", json=body)
        if response.status_code == 200:
            self.auth = {"Authorization": f"Bearer {response.json()['token']}"}

    def upload(self, target: str = "aac") -> Any:
        body, content_type = _form(target)
        return self.client.post(
            "/api/tasks", data=body, headers={**self.auth, "Content-Type": content_type}
        )


@functools.cache
def _form(target: str) -> tuple[bytes, str]:
    """The multipart body of an upload, encoded once: every upload sends the same bytes,
    and encoding 4 MB per request cost the load generator CPU the server needed."""
    file: tuple[str, bytes, str] = (UPLOAD.name, UPLOAD.read_bytes(), "audio/mpeg")
    return encode_multipart_formdata([("fileName", file), ("newFormat", target)])


class LoginUpload(_User):
    @task
    def login_and_upload(self) -> None:
        self.login()
        self.upload()


class UploadLoop(_User):
    @task
    def upload_again(self) -> None:
        self.upload()


class ReadHeavy(_User):
    def on_start(self) -> None:
        super().on_start()
        created = self.upload("mp3").json()
        self.task_id = created["id"]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            got = self.client.get(f"/api/tasks/{self.task_id}", headers=self.auth,
                                  name="/api/tasks/[id] (setup)").json()  # fmt: skip
            if got["status"] in ("processed", "failed"):
                return
            time.sleep(0.5)

    @task(3)
    def list_tasks(self) -> None:
        self.client.get("/api/tasks?max=20", headers=self.auth)

    @task(3)
    def get_task(self) -> None:
        self.client.get(f"/api/tasks/{self.task_id}", headers=self.auth, name="/api/tasks/[id]")

    @task(1)
    def download(self) -> None:
        which = random.choice(["converted", "original"])
        self.client.get(f"/api/tasks/{self.task_id}/{which}", headers=self.auth,
                        name=f"/api/tasks/[id]/{which}")  # fmt: skip
