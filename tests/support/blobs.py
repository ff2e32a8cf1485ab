"""The files the local blob store and the embedded mailer hold, as the tests see them."""

from __future__ import annotations

import os
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
