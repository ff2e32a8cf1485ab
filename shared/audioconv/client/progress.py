"""Progress lines: redrawn in place on a terminal, plain lines (no control codes) elsewhere."""

from __future__ import annotations

import threading
from typing import TextIO

STEP = 10  # percent between plain lines


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


class Progress:
    """Thread-safe reporter for several files at once."""

    def __init__(self, out: TextIO, tty: bool | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._lock = threading.Lock()
        self._shown: dict[tuple[str, str], int] = {}
        self._dirty = False

    def update(self, name: str, phase: str, percent: float, detail: str = "") -> None:
        """``name`` is ``percent`` through ``phase`` (uploading, converting)."""
        text = f"{name}: {phase} {percent:.0f}%" + (f" ({detail})" if detail else "")
        with self._lock:
            if self.tty:
                self.out.write(f"\r\x1b[K{text}")
                self._dirty = True
            else:
                bucket = int(percent // STEP)
                if self._shown.get((name, phase), -1) >= bucket:
                    return
                self._shown[(name, phase)] = bucket
                self.out.write(text + "\n")
            self.out.flush()

    def line(self, text: str) -> None:
        """A line that stays."""
        with self._lock:
            if self._dirty:
                self.out.write("\r\x1b[K")
                self._dirty = False
            self.out.write(text + "\n")
            self.out.flush()
