"""The spool of bodies being received: named for their process, swept once it is dead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from audioconv import spool


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, check=True, text=True)  # fmt: skip
    return int(proc.stdout)


def test_the_files_of_dead_processes_and_lone_claims_are_swept(tmp_path: Path) -> None:
    mine = spool.new_file(tmp_path)
    dead = tmp_path / f"upload-{_dead_pid()}-abc"
    dead.write_bytes(b"half")
    lone_claim = tmp_path / "claim-0123"
    lone_claim.write_bytes(b"")
    stranger = tmp_path / "notes.txt"
    stranger.write_text("not ours")
    with spool.claim(tmp_path, "f" * 32) as (body, _):
        assert spool.sweep(tmp_path) == 2
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [mine.name, body.name, f"claim-{'f' * 32}", "notes.txt"]
        )
        with pytest.raises(spool.Claimed), spool.claim(tmp_path, "f" * 32):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, "notes.txt"])
    assert spool.sweep(tmp_path, dead=os.getpid()) == 1  # one known dead: its id may be reused
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
