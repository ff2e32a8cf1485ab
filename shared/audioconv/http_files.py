"""Sending files over HTTP: a download's ``Content-Disposition`` and reading a stream in
chunks (used by the API's routes, the batch ZIP and Cloud Storage's signed URLs)."""

from __future__ import annotations

import unicodedata
import urllib.parse
from collections.abc import Iterator
from typing import IO

from werkzeug.http import dump_options_header


def attachment(filename: str) -> str:
    """A ``Content-Disposition: attachment`` value naming ``filename`` (RFC 6266: an
    ASCII ``filename``, plus ``filename*`` in UTF-8 for any other name)."""
    try:
        filename.encode("ascii")
    except UnicodeEncodeError:
        fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
        encoded = urllib.parse.quote(filename, safe="!#$&+^`|~")
        return f"attachment; {_quoted('filename', fallback)}; filename*=UTF-8''{encoded}"
    return f"attachment; {_quoted('filename', filename)}"


def _quoted(key: str, value: str) -> str:
    return dump_options_header("", {key: value}).lstrip("; ")


def iter_chunks(stream: IO[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """Read a stream in fixed-size chunks (for streaming downloads)."""
    while chunk := stream.read(size):
        yield chunk
