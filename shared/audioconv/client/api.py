"""The audioconv HTTP API, as the client uses it (``requests``; uploads stream from disk)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin

import requests
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor

from audioconv.client import resumable

# Bytes sent so far, bytes in all.
OnBytes = Callable[[int, int], None]
TIMEOUT = 60
POLL_SECONDS = 0.5
# How long an uploaded file may take to become a task (storage notification).
UPLOAD_ARRIVAL_SECONDS = 600


class ApiError(Exception):
    """The server said no (its ``message``), or could not be reached (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _CountingReader:
    """A file that reports how much of it has been read (for a streamed PUT)."""

    def __init__(self, fh: IO[bytes], size: int, on_bytes: OnBytes) -> None:
        self._fh, self._size, self._on_bytes, self._done = fh, size, on_bytes, 0

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        chunk = self._fh.read(n)
        self._done += len(chunk)
        self._on_bytes(self._done, self._size)
        return chunk


class Api:
    """One server, with or without a token."""

    def __init__(self, server: str, token: str | None = None) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.session = requests.Session()

    def _url(self, path: str) -> str:
        return urljoin(self.server + "/", path.lstrip("/"))

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        kwargs.setdefault("timeout", TIMEOUT)
        try:
            response = self.session.request(method, self._url(path), headers=headers, **kwargs)
        except requests.RequestException as exc:
            raise ApiError(0, f"cannot reach {self.server}: {exc}") from None
        if response.status_code >= 400:
            raise ApiError(response.status_code, _message(response))
        return response

    def signup(self, username: str, email: str, password: str) -> str:
        body = {"username": username, "email": email, "password1": password, "password2": password}
        return str(self.request("POST", "/api/auth/signup", json=body).json()["token"])

    def login(self, username: str, password: str) -> str:
        body = {"username": username, "password": password}
        return str(self.request("POST", "/api/auth/login", json=body).json()["token"])

    def logout(self) -> None:
        """Revoke this client's token on the server."""
        self.request("POST", "/api/auth/logout")

    def me(self) -> dict[str, Any]:
        return dict(self.request("GET", "/api/me").json())

    def resend_verification(self) -> dict[str, Any]:
        return dict(self.request("POST", "/api/me/email/verify").json())

    def change_password(self, old: str, new: str) -> int:
        """Set a new password; how many other tokens the server revoked."""
        body = {"oldPassword": old, "newPassword": new}
        return int(self.request("PUT", "/api/me/password", json=body).json()["revokedTokens"])

    def delete_account(self, password: str) -> dict[str, int]:
        """Delete the account and all it has; what went, by kind."""
        answer = self.request("DELETE", "/api/me", json={"password": password}).json()
        return dict(answer["deleted"])

    def tasks(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/api/tasks").json())

    def task(self, task_id: int) -> dict[str, Any]:
        return dict(self.request("GET", f"/api/tasks/{task_id}").json())

    def delete(self, task_id: int) -> None:
        self.request("DELETE", f"/api/tasks/{task_id}")

    def create_batch(self, name: str | None = None) -> int:
        """A new, empty batch to upload files into (``batch`` on each upload)."""
        body = {"name": name} if name else {}
        return int(self.request("POST", "/api/batches", json=body).json()["id"])

    def upload(
        self, path: Path, new_format: str, options: Mapping[str, str], on_bytes: OnBytes
    ) -> dict[str, Any]:
        """POST the file as multipart, streamed from disk; the task it became."""
        return self.upload_files([path], new_format, options, on_bytes)

    def upload_files(
        self, paths: list[Path], new_format: str, options: Mapping[str, str], on_bytes: OnBytes
    ) -> dict[str, Any]:
        """POST the files in one multipart request, streamed from disk: the task one
        file became, or the batch of several (an album and its cue sheet)."""
        handles = [path.open("rb") for path in paths]
        try:
            fields: list[tuple[str, Any]] = [("newFormat", new_format), *options.items()]
            fields += [("fileName", (p.name, fh, "application/octet-stream"))
                       for p, fh in zip(paths, handles, strict=True)]  # fmt: skip
            monitor = MultipartEncoderMonitor(
                MultipartEncoder(fields=fields), lambda m: on_bytes(m.bytes_read, m.len)
            )
            response = self.request(
                "POST", "/api/tasks", data=monitor, timeout=(TIMEOUT, 3600),
                headers={"Content-Type": monitor.content_type},
            )  # fmt: skip
        finally:
            for fh in handles:
                fh.close()
        return dict(response.json())

    def batch(self, batch_id: int) -> dict[str, Any]:
        return dict(self.request("GET", f"/api/batches/{batch_id}").json())

    def direct_upload(
        self, path: Path, new_format: str, options: Mapping[str, str], on_bytes: OnBytes
    ) -> dict[str, Any]:
        """Ask for an upload URL, PUT the file there, then wait for the task it became."""
        body = {"fileName": path.name, "newFormat": new_format, **options}
        ticket = self.request("POST", "/api/uploads", json=body).json()
        size = path.stat().st_size
        with path.open("rb") as fh:
            try:
                response = self.session.request(
                    ticket.get("method", "PUT"), self._url(ticket["url"]),
                    headers=ticket.get("headers", {}), data=_CountingReader(fh, size, on_bytes),
                    timeout=(TIMEOUT, 3600),
                )  # fmt: skip
            except requests.RequestException as exc:
                raise ApiError(0, f"upload failed: {exc}") from None
        if response.status_code >= 400:
            raise ApiError(response.status_code, f"upload refused: {_message(response)}")
        status_url = f"/api/uploads/{ticket['uploadId']}"
        deadline = time.monotonic() + UPLOAD_ARRIVAL_SECONDS
        while time.monotonic() < deadline:
            answer = self.request("GET", status_url)
            if answer.status_code == 200:
                return dict(answer.json())
            time.sleep(POLL_SECONDS)
        raise ApiError(0, f"the server never saw the uploaded file (upload {ticket['uploadId']})")

    def resumable_upload(
        self, path: Path, new_format: str, options: Mapping[str, str], on_bytes: OnBytes
    ) -> dict[str, Any] | None:
        """Upload resumably, going on with an interrupted upload of the same file: tus
        where the server takes it (embedded), else a Cloud Storage resumable session
        (the cloud); the task it became, or None when the server has neither."""
        fields = {"newFormat": new_format, **options}
        size = path.stat().st_size

        def start() -> dict[str, Any]:
            body = {"fileName": path.name, **fields, "resumable": True, "size": size}
            return dict(self.request("POST", "/api/uploads", json=body).json())

        try:
            if resumable.supported(self.server, self.session):
                upload_id = resumable.upload(self.server, self.token or "", path, fields, on_bytes)
            else:
                scope = resumable.scope_of(self.server, path, fields)
                upload_id = resumable.session_upload(start, self.session, scope, path, on_bytes)
        except resumable.UploadFailed as exc:
            raise ApiError(0, str(exc)) from None
        except ApiError as exc:
            if exc.status in (400, 404):  # no sessions here (an older or embedded server)
                return None
            raise
        try:
            return resumable.wait_for_task(self.request, upload_id, UPLOAD_ARRIVAL_SECONDS)
        except resumable.UploadFailed as exc:
            raise ApiError(0, str(exc)) from None

    def wait(self, task_id: int, on_progress: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Poll the task until it is processed or failed."""
        while True:
            task = self.task(task_id)
            on_progress(task)
            if task["status"] in ("processed", "failed"):
                return task
            time.sleep(POLL_SECONDS)

    def download(self, url: str, dest: Path) -> Path:
        """Stream ``url`` into ``dest`` (via a temporary file beside it, renamed when complete)."""
        partial = dest.with_name(f".{dest.name}.part-{os.getpid()}")
        try:
            with self.request("GET", url, stream=True) as response, partial.open("wb") as out:
                for chunk in response.iter_content(1 << 16):
                    out.write(chunk)
            partial.replace(dest)
        finally:
            partial.unlink(missing_ok=True)
        return dest


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return f"HTTP {response.status_code} {response.reason}".strip()
