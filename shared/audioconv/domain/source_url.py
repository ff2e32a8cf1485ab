"""A URL import's source URL (``sourceUrl``): its syntax, and how it may be shown.

A signed URL (Cloud Storage, S3) grants access through its query string: the task
keeps it whole, to fetch with, but no log line, message or answer shows it.
"""

from __future__ import annotations

import urllib.parse

# The longest source URL taken (signed URLs run to 2-3 thousand characters).
MAX_URL_CHARS = 4096


class BadSourceUrl(ValueError):
    """The URL cannot be fetched; the message says why, in words."""


def shown(url: str) -> str:
    """``url`` as it may be logged or shown: no query string, no user or password."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    query = "?..." if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", "")) + query


def check_url_syntax(url: str) -> urllib.parse.SplitResult:
    """The URL's parts; BadSourceUrl unless it is an absolute http(s) URL with a host."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise BadSourceUrl(
            f"sourceUrl must be an http(s) URL of at most {MAX_URL_CHARS} characters"
        )
    if any(ord(char) <= 32 or ord(char) == 127 for char in url):
        raise BadSourceUrl("sourceUrl must not contain spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  (a bad port raises here)
    except ValueError:
        raise BadSourceUrl("sourceUrl is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise BadSourceUrl("sourceUrl must be an http:// or https:// URL")
    if not parts.hostname:
        raise BadSourceUrl("sourceUrl has no host")
    if parts.username or parts.password:
        raise BadSourceUrl("sourceUrl must not carry a user name or password")
    return parts
