"""The spool of request bodies being received (``<work dir>/incoming``): files named for
the process writing them, so that whatever a killed API process left is removed as soon
as it is known dead, not only at the next start (issue 18).

- ``upload-<pid>-<random>``: an upload's file (``new_file``);
- ``direct-<pid>-<upload id>-<random>``: a direct upload's PUT body, and beside it its claim
  ``claim-<upload id>``, a hard link of that body made if absent (``claim``): one PUT
  at a time per upload URL, across every API process.

``sweep`` removes the files of processes that no longer run (or of one that just died,
as gunicorn's master reports it), and claims left without their body.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)


def new_file(folder: Path, kind: str = "upload") -> Path:
    """A new empty file in ``folder`` named for this process."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix=f"{kind}-{os.getpid()}-")
    os.close(fd)
    return Path(name)


class Claimed(Exception):
    """Another request is receiving the body of this upload now."""


@contextlib.contextmanager
def claim(folder: Path, upload_id: str) -> Iterator[tuple[Path, BinaryIO]]:
    """A body file for one upload id, claimed for this process while the block runs
    (Claimed if another process or thread holds it); both removed after the block."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix=f"direct-{os.getpid()}-{upload_id}-")
    body, marker = Path(name), folder / f"claim-{upload_id}"
    out = os.fdopen(fd, "wb")
    try:
        try:
            os.link(body, marker)
        except FileExistsError:
            raise Claimed(upload_id) from None
        try:
            yield body, out
        finally:
            marker.unlink(missing_ok=True)
    finally:
        out.close()
        body.unlink(missing_ok=True)


def owner(path: Path) -> int | None:
    """The process id a spool file is named for (None for a claim, or a stranger)."""
    kind, _, rest = path.name.partition("-")
    pid = rest.partition("-")[0]
    return int(pid) if kind in ("upload", "direct") and pid.isdigit() else None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep(folder: Path, dead: int | None = None) -> int:
    """Remove the spool files of processes that no longer run (``dead``: one known to
    have died, whose id may already be reused), then claims left alone; how many."""
    removed = 0
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return 0
    for path in entries:
        pid = owner(path)
        if pid is not None and (pid == dead or not _running(pid)):
            path.unlink(missing_ok=True)
            removed += 1
    for path in entries:
        if not path.name.startswith("claim-"):
            continue
        try:
            alone = path.stat().st_nlink == 1  # its body, the other link, is gone
        except FileNotFoundError:
            continue
        if alone:
            path.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info("removed %d spool files of API processes that died", removed)
    return removed
