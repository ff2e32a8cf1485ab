"""File and folder names that every common file system takes: Windows (no ``<>:"/\\|?*``,
no control characters, no trailing dot or space, no device names such as ``CON`` or
``COM1``), macOS and Linux (no ``/``, at most 255 bytes; a leading dot hides a file).
Used for a cue sheet's tracks and the album layout of a batch's ZIP."""

from __future__ import annotations

import re
import unicodedata

# What Windows refuses in a name (and ``/``, which every system does), and controls.
_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(10)),
            *(f"LPT{n}" for n in range(10))}  # fmt: skip
# Longest name part, in UTF-8 bytes: well under 255, with room for an extension.
MAX_PART_BYTES = 120


def portable_name(text: str, fallback: str = "Unknown") -> str:
    """``text`` as one file or folder name any of those systems takes (``fallback``
    if nothing of it is left): forbidden characters become ``_``, runs of spaces one."""
    name = unicodedata.normalize("NFC", text)
    name = " ".join(name.split())  # tabs and line breaks are spaces
    name = _FORBIDDEN.sub("_", name)
    name = name.encode()[:MAX_PART_BYTES].decode(errors="ignore")
    name = name.strip().strip(".").strip()
    if name.split(".")[0].upper() in _DEVICES:
        name = f"_{name}"
    return name or fallback
