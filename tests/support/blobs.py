"""The files the local blob store and the embedded mailer hold, as the tests see them."""

from __future__ import annotations

import email
import os
import re
import time
from email.message import Message
from pathlib import Path

from audioconv.services.dependencies import Dependencies


def stored_files(deps: Dependencies) -> list[Path]:
    """Every file under the data folder's blob store. os.walk, not rglob: a bus thread
    may be pruning a folder it just emptied meanwhile, which breaks rglob's walk."""
    root = deps.settings.data_dir / "blobs"
    return [Path(top, name) for top, _, names in os.walk(root) for name in names]


def mail_files(folder: Path) -> list[Path]:
    """The mails the embedded mailer has written to ``folder``, oldest name first; not
    the hidden ``.name.eml`` it writes first and then renames (pathlib's ``*`` matches
    dot-files, so a plain glob can list one that is gone a moment later)."""
    return sorted(folder.glob("[!.]*.eml"))


def mails_to(folder: Path, address: str, subject: str = "") -> list[Message]:
    """The mails in ``folder`` to ``address`` whose subject holds ``subject``, oldest first."""
    found = []
    for path in mail_files(folder) if folder.exists() else []:
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] == address and subject in str(message["Subject"]):
            found.append(message)
    return found


VERIFY_SUBJECT = "Confirm your e-mail address"


def verification_link(folder: Path, address: str, timeout: float = 30) -> str:
    """The link (path and query) of the newest verification mail to ``address``, waiting
    for it to be written."""
    deadline = time.monotonic() + timeout
    while not (found := mails_to(folder, address, VERIFY_SUBJECT)):
        if time.monotonic() > deadline:
            raise AssertionError(f"no verification mail to {address} in {folder}")
        time.sleep(0.05)
    body = found[-1].get_payload(decode=True)
    assert isinstance(body, bytes)
    match = re.search(r"https?://[^/\s]+(/api/auth/verify-email\?token=\S+)", body.decode())
    assert match, body
    return match.group(1)
