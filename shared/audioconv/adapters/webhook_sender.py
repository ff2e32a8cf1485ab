"""Sends webhook events over HTTP(S) with urllib3, through the SSRF guard.

The host is resolved and checked on every attempt, and the connection goes to
the very address that was checked (TLS still verifies the certificate for the
URL's host name), so DNS that answers differently the second time (rebinding)
cannot send us elsewhere; a host with several addresses is tried at each in turn
until one takes the connection, within the one timeout. Redirects are not
followed: a 3xx is the outcome.
"""

from __future__ import annotations

import time
import urllib.parse

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    SSLError,
    TimeoutError,
)

from audioconv.adapters.address_guard import UnsafeWebhookUrl, checked_addresses
from audioconv.domain.webhook_events import Outcome, check_url_syntax


class HttpWebhookSender:
    """``ca_certs``: a CA bundle to trust instead of the system's (tests)."""

    def __init__(
        self,
        allow_http: bool = False,
        allow_private: bool = False,
        timeout: float = 10.0,
        ca_certs: str | None = None,
    ) -> None:
        self.allow_http = allow_http
        self.allow_private = allow_private
        self.timeout = timeout
        self.ca_certs = ca_certs

    def _target(self, url: str) -> tuple[urllib.parse.SplitResult, int]:
        try:
            check_url_syntax(url, self.allow_http)
        except ValueError as exc:
            raise UnsafeWebhookUrl(str(exc)) from None
        parts = urllib.parse.urlsplit(url)
        return parts, parts.port or (443 if parts.scheme == "https" else 80)

    def check(self, url: str) -> None:
        parts, port = self._target(url)
        assert parts.hostname is not None
        try:
            checked_addresses(parts.hostname, port, self.allow_private)
        except LookupError as exc:
            raise UnsafeWebhookUrl(f"webhookUrl: {exc}") from None

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        try:
            parts, port = self._target(url)
            assert parts.hostname is not None
            addresses = checked_addresses(parts.hostname, port, self.allow_private)
        except UnsafeWebhookUrl as exc:
            return Outcome(error=f"refused: {exc}", permanent=True)
        except LookupError as exc:
            return Outcome(error=str(exc))
        deadline = time.monotonic() + self.timeout
        outcome = Outcome(error="no address to connect to")
        for address in addresses:  # the next one only if this one takes no connection
            left = deadline - time.monotonic()
            if left <= 0:
                break
            outcome, connected = self._post_to(str(address), port, parts, body, headers, left)
            if connected:
                break
        return outcome

    def _post_to(
        self,
        address: str,
        port: int,
        parts: urllib.parse.SplitResult,
        body: bytes,
        headers: dict[str, str],
        timeout: float,
    ) -> tuple[Outcome, bool]:
        """One POST to ``address``; the outcome, and whether a connection was made."""
        host = parts.hostname
        options: dict[str, object] = {}
        pool_class: type[urllib3.HTTPConnectionPool] = urllib3.HTTPConnectionPool
        if parts.scheme == "https":
            pool_class = urllib3.HTTPSConnectionPool
            options = {"server_hostname": host, "assert_hostname": host,
                       "cert_reqs": "CERT_REQUIRED", "ca_certs": self.ca_certs}  # fmt: skip
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        pool = pool_class(address, port, timeout=urllib3.Timeout(total=timeout), retries=False,
                          maxsize=1, **options)  # type: ignore[arg-type]  # fmt: skip
        try:
            response = pool.urlopen(
                "POST", path, body=body, headers={**headers, "Host": parts.netloc},
                redirect=False, retries=False, preload_content=False,
            )  # fmt: skip
            response.close()  # the answer's body means nothing to us: not read
            return Outcome(status=response.status), True
        except NewConnectionError as exc:  # a ConnectTimeoutError too: first
            return Outcome(error=f"could not connect to {address}: {exc.__cause__ or exc}"), False
        except ConnectTimeoutError:
            return Outcome(error=f"could not connect to {address} in {self.timeout:g} s"), False
        except TimeoutError:
            return Outcome(error=f"timed out after {self.timeout:g} s"), True
        except SSLError as exc:
            return Outcome(error=f"TLS error: {exc}"), True
        except (HTTPError, OSError) as exc:
            return Outcome(error=f"connection error: {exc}"), True
        finally:
            pool.close()
