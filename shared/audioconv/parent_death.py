"""A child process that dies with the thread that started it (Linux only)."""

from __future__ import annotations

import ctypes
import signal
import sys

_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals) -> None:
    """In the child before exec: ``sig`` is sent to it when its parent thread ends,
    even by SIGKILL. Loaded at import, so the forked child only makes the call."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, int(sig))
