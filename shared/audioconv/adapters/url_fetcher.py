"""Fetches a user's file from an http(s) URL (URL import), through the SSRF guard.

Each hop (the URL, then every redirect's ``Location``) is resolved once and refused
when any of its addresses is not public (``address_guard.refusal``), and the
connection goes to the very address that was checked (TLS still verifies the
certificate for the URL's host name), so DNS rebinding cannot send us inside. The
body is streamed to a file and cut off past ``max_bytes`` whatever the headers say,
and the whole fetch (every hop, every byte) must end within ``timeout`` seconds.
No message names a URL's query string (a signed URL's signature): ``shown``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from werkzeug.http import parse_options_header

from audioconv.adapters.address_guard import IPAddress, refusal, resolve
from audioconv.domain.source_url import BadSourceUrl, check_url_syntax, shown
from audioconv.ports import Fetched, FetchFailed

CHUNK = 1 << 16
# The most redirects one fetch follows (browsers stop at 20; a file host needs 1-3).
MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


def file_name(disposition: str | None, url: str) -> str | None:
    """The name the server gives the file (``Content-Disposition``), else the URL's
    last path segment; None when neither names one."""
    if disposition:
        _, params = parse_options_header(disposition)
        name = params.get("filename")
        if name:
            return str(name)
    segment = PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    return segment or None


class _HideQueries(logging.Filter):
    """urllib3 logs each request's path, query string and all (at DEBUG): not ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = _QUERY.sub("?...", message), ()
        return True


_QUERY = re.compile(r"\?[^\s\"']*")
_URLLIB3 = logging.getLogger("urllib3.connectionpool")


class HttpUrlFetcher:
    """``allow_networks``: networks the guard lets through even if not public (an
    operator's own file server; tests allow one loopback address, never all)."""

    def __init__(
        self,
        allow_networks: Sequence[str] = (),
        timeout: float = 300.0,
        connect_timeout: float = 10.0,
        ca_certs: str | None = None,
    ) -> None:
        self.allowed = [ipaddress.ip_network(net, strict=False) for net in allow_networks]
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.ca_certs = ca_certs
        if not any(isinstance(f, _HideQueries) for f in _URLLIB3.filters):
            _URLLIB3.addFilter(_HideQueries())

    def _addresses(
        self, url: str, hop: int = 0
    ) -> tuple[urllib.parse.SplitResult, int, list[IPAddress]]:
        try:
            parts = check_url_syntax(url)
        except BadSourceUrl as exc:
            said = f"a redirect went to {shown(url)}: " if hop else ""
            raise FetchFailed(f"{said}{exc}") from None
        assert parts.hostname is not None
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = resolve(parts.hostname, port)
        except LookupError as exc:
            raise FetchFailed(str(exc)) from None
        for ip in addresses:
            reason = refusal(ip)
            if reason is not None and not any(ip in net for net in self.allowed):
                host = parts.hostname
                named = host if host == str(ip) else f"{host} ({ip})"
                said = f"a redirect went to {shown(url)}: " if hop else ""
                raise FetchFailed(f"{said}the host {named} is {reason}; it may not be fetched")
        return parts, port, addresses

    def check(self, url: str) -> None:
        self._addresses(url)

    def fetch(
        self,
        url: str,
        dest: Path,
        max_bytes: int,
        on_progress: Callable[[int, int | None], None] = lambda done, total: None,
    ) -> Fetched:
        deadline = time.monotonic() + self.timeout
        for hop in range(MAX_REDIRECTS + 1):
            parts, port, addresses = self._addresses(url, hop)
            response, pool = self._get(parts, port, addresses, deadline)
            try:
                if response.status in _REDIRECTS and response.headers.get("Location"):
                    url = urllib.parse.urljoin(url, response.headers["Location"])
                    continue  # the next hop is checked as the first was
                if response.status != 200:
                    reason = f" {response.reason}" if response.reason else ""
                    raise FetchFailed(
                        f"{shown(url)} answered {response.status}{reason}, not the file"
                    )
                size = self._save(response, dest, max_bytes, deadline, on_progress)
                name = file_name(response.headers.get("Content-Disposition"), url)
                return Fetched(size=size, name=name, content_type=response.headers.get(
                    "Content-Type"))  # fmt: skip
            finally:
                response.release_conn()
                pool.close()
        raise FetchFailed(f"more than {MAX_REDIRECTS} redirects; the last went to {shown(url)}")

    def _get(
        self,
        parts: urllib.parse.SplitResult,
        port: int,
        addresses: list[IPAddress],
        deadline: float,
    ) -> tuple[urllib3.BaseHTTPResponse, urllib3.HTTPConnectionPool]:
        """The response to a GET sent to the first of ``addresses`` that connects."""
        url = urllib.parse.urlunsplit(parts)
        error = f"could not connect to {shown(url)}"
        for address in addresses:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            pool = self._pool(parts, str(address), port, left)
            path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
            try:
                response = pool.urlopen(
                    "GET", path, headers={"Host": parts.netloc, "Accept": "*/*",
                                          "User-Agent": "audioconv-url-import"},
                    redirect=False, retries=False, preload_content=False,
                )  # fmt: skip
                return response, pool
            except (NewConnectionError, ConnectTimeoutError) as exc:
                error = f"could not connect to {shown(url)}: {_why(exc)}"
                pool.close()
                continue
            except ReadTimeoutError:
                pool.close()
                raise FetchFailed(f"{shown(url)} did not answer in time") from None
            except SSLError as exc:
                pool.close()
                raise FetchFailed(f"TLS error with {shown(url)}: {_why(exc)}") from None
            except (HTTPError, OSError) as exc:
                pool.close()
                raise FetchFailed(f"fetching {shown(url)} failed: {_why(exc)}") from None
        raise FetchFailed(error)

    def _pool(
        self, parts: urllib.parse.SplitResult, address: str, port: int, left: float
    ) -> urllib3.HTTPConnectionPool:
        timeout = urllib3.Timeout(connect=min(self.connect_timeout, left), read=left)
        if parts.scheme == "https":
            host = parts.hostname
            return urllib3.HTTPSConnectionPool(
                address, port, timeout=timeout, retries=False, maxsize=1,
                server_hostname=host, assert_hostname=host, cert_reqs="CERT_REQUIRED",
                ca_certs=self.ca_certs,
            )  # fmt: skip
        return urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)

    def _save(
        self,
        response: urllib3.BaseHTTPResponse,
        dest: Path,
        max_bytes: int,
        deadline: float,
        on_progress: Callable[[int, int | None], None],
    ) -> int:
        announced = _length(response.headers.get("Content-Length"))
        too_big = FetchFailed(f"the file is larger than the upload limit of {max_bytes} bytes")
        if announced is not None and announced > max_bytes:
            raise too_big
        done = 0
        with dest.open("wb") as out:
            while True:
                if time.monotonic() > deadline:
                    raise FetchFailed(
                        f"the download took longer than {self.timeout:g} s (got {done} bytes)"
                    )
                try:
                    chunk = response.read1(CHUNK)  # whatever has arrived, not a full CHUNK
                except ReadTimeoutError:
                    raise FetchFailed(
                        f"the download took longer than {self.timeout:g} s (got {done} bytes)"
                    ) from None
                except ProtocolError as exc:
                    expected = f" of the {announced} announced" if announced is not None else ""
                    raise FetchFailed(
                        f"the connection broke after {done} bytes{expected}: {_why(exc)}"
                    ) from None
                except (HTTPError, OSError) as exc:
                    why = _why(exc)
                    raise FetchFailed(f"the download failed after {done} bytes: {why}") from None
                if not chunk:
                    break
                done += len(chunk)
                if done > max_bytes:
                    raise too_big
                out.write(chunk)
                on_progress(done, announced)
        if announced is not None and done != announced:
            raise FetchFailed(
                f"the server announced {announced} bytes but sent {done}; the file is incomplete"
            )
        return done


def _length(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def _why(exc: BaseException) -> str:
    """An exception's words, without any URL's query string in them."""
    text = str(exc.__cause__ or exc)
    for word in text.split():
        if "://" in word and "?" in word:
            text = text.replace(word, shown(word.strip("'\"(),")))
    return text
