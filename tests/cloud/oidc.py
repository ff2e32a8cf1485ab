"""A stand-in for Google's OIDC signing: a certs endpoint and tokens signed with its key.

Serves ``{kid: x509 PEM}`` JSON, the format of https://www.googleapis.com/oauth2/v1/certs,
from 127.0.0.1, and mints tokens shaped like the ones Pub/Sub push sends::

    with start_certs_server() as certs:
        settings = Settings(push_auth=True, oidc_certs_url=certs.url, ...)
        token = certs.mint_token(audience, email)
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

ISSUER = "https://accounts.google.com"


@dataclass
class SigningKey:
    """An RSA key and its self-signed certificate, named by ``kid``."""

    kid: str
    private_pem: str
    cert_pem: str

    @classmethod
    def generate(cls, kid: str) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-oidc")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return cls(kid, private_pem, cert.public_bytes(serialization.Encoding.PEM).decode())


def mint_token(
    key: SigningKey,
    audience: str,
    email: str,
    *,
    issuer: str = ISSUER,
    email_verified: bool = True,
    lifetime: int = 3600,
    issued_at: float | None = None,
    **extra: Any,
) -> str:
    """An ID token like Pub/Sub push sends (``lifetime`` < 0 makes an expired one)."""
    iat = int(issued_at if issued_at is not None else time.time())
    if lifetime < 0:
        iat += lifetime - 600  # beyond any clock-skew allowance
    claims = {
        "iss": issuer,
        "aud": audience,
        "azp": "1234567890",
        "sub": "1234567890",
        "email": email,
        "email_verified": email_verified,
        "iat": iat,
        "exp": iat + abs(lifetime),
        **extra,
    }
    signer = crypt.RSASigner.from_string(key.private_pem, key.kid)  # type: ignore[no-untyped-call]
    token: bytes = jwt.encode(signer, claims, header={"kid": key.kid})  # type: ignore[no-untyped-call]
    return token.decode()


@dataclass
class CertsServer:
    """A running certs endpoint; ``hits`` counts the GETs it has answered."""

    url: str
    keys: list[SigningKey]
    hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def key(self) -> SigningKey:
        return self.keys[0]

    def mint_token(self, audience: str, email: str, **kwargs: Any) -> str:
        """A token signed by this server's (first) key."""
        return mint_token(self.key, audience, email, **kwargs)


@contextmanager
def start_certs_server(keys: list[SigningKey] | None = None) -> Iterator[CertsServer]:
    """Serve the certificates of ``keys`` (one fresh key by default) on 127.0.0.1."""
    state = CertsServer("", keys or [SigningKey.generate("test-key-1")])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({k.kid: k.cert_pem for k in state.keys}).encode()
            with state._lock:
                state.hits += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "public, max-age=3600")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/oauth2/v1/certs"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
