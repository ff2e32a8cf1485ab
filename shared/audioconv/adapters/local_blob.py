"""Blob store on local disk: one file per key under a root folder."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from itsdangerous import BadData, URLSafeTimedSerializer


class LocalBlobStore:
    """Blobs as files under ``root``.

    Its signed upload URLs point at the embedded API (``upload_base``), which
    takes the PUT in place of Cloud Storage: the token in the URL, signed with
    ``secret`` and good for a limited time, names the one key it may write.
    """

    def __init__(self, root: Path, upload_base: str = "", secret: str = "") -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.upload_base = upload_base.rstrip("/")
        self._signer = URLSafeTimedSerializer(secret or "unset", salt="audioconv-direct-upload")

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"invalid blob key {key!r}")
        return path

    def put_file(
        self, key: str, path: Path, content_type: str, *, if_absent: bool = False,
        move: bool = False,
    ) -> None:  # fmt: skip
        """Store ``path`` under ``key`` (with ``if_absent`` only if nothing is there, else
        FileExistsError); if that fails, nothing is left behind (no part file, no folder
        made for it). ``move`` renames the file in when it is on the same disk."""
        dest = self._path(key)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if move and self._rename_in(path, dest, if_absent):
                return
            # Copy to a temporary name, then rename: readers never see half a file.
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as out, path.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                self._publish(Path(tmp), dest, if_absent)
            finally:
                Path(tmp).unlink(missing_ok=True)
        except BaseException:
            self._prune(dest.parent)
            raise

    @staticmethod
    def _publish(src: Path, dest: Path, if_absent: bool) -> None:
        """Make a complete file appear at ``dest`` at once (and only once, if ``if_absent``)."""
        if if_absent:
            os.link(src, dest)  # fails if dest exists: one writer wins, atomically
            src.unlink()
        else:
            os.replace(src, dest)

    def _rename_in(self, path: Path, dest: Path, if_absent: bool) -> bool:
        """Take ``path`` itself; False when it is on another disk (then it is copied)."""
        try:
            self._publish(path, dest, if_absent)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                return False
            raise
        return True

    def local_path(self, key: str) -> Path | None:
        """The blob's file itself (None if there is no such blob)."""
        path = self._path(key)
        return path if path.is_file() else None

    def download_to(self, key: str, path: Path) -> None:
        with self.open_read(key) as src, path.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)

    def open_read(self, key: str) -> IO[bytes]:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise KeyError(key) from None

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        self._prune(path.parent)

    def _prune(self, folder: Path) -> None:
        """Remove ``folder`` and its parents up to the root while they are empty."""
        for parent in (folder, *folder.parents):
            if parent == self.root or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def keys(self, prefix: str) -> Iterator[str]:
        for path in sorted(self.root.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix):
                yield key

    def signed_put_url(
        self, key: str, content_type: str, ttl_seconds: int, max_bytes: int | None = None
    ) -> str:
        """A URL of the embedded API that accepts one PUT of ``key`` for ``ttl_seconds``
        (the API enforces the upload limit itself)."""
        self._path(key)  # validate before handing it out
        token = self._signer.dumps({"key": key, "ttl": ttl_seconds})
        # Percent-encoded (spaces, accents, '+', '&' in file names); the route gets it decoded.
        return f"{self.upload_base}/{urllib.parse.quote(key)}?token={token}"

    def signed_get_url(
        self, key: str, filename: str, content_type: str, ttl_seconds: int
    ) -> str | None:
        """None: the embedded API streams downloads itself."""
        return None

    def check(self) -> None:
        """OSError unless the root folder is there and this process may write in it."""
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise OSError(f"the blob folder {self.root} is missing or not writable")

    def resumable_upload_url(self, key: str, content_type: str, size: int) -> str | None:
        """None: the embedded mode's resumable uploads are tus (services/resumable.py)."""
        return None

    def key_for_upload(self, token: str) -> str | None:
        """The key a signed upload URL's token grants; ValueError if forged or expired."""
        try:
            claims = self._signer.loads(token)
            claims = self._signer.loads(token, max_age=int(claims["ttl"]))
            return str(claims["key"])
        except (BadData, KeyError, TypeError, ValueError):
            raise ValueError("upload URL is invalid or has expired") from None
