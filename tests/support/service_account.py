"""A throwaway service-account key, for clients that sign URLs locally (the
emulator's anonymous client cannot sign)."""

from __future__ import annotations

import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.cloud.storage import Client
from google.oauth2 import service_account

SIGNER = "uploads@test-project.iam.gserviceaccount.com"


def sa_credentials(key: rsa.RSAPrivateKey) -> service_account.Credentials:
    """A throwaway service-account key, as a downloaded JSON key file would give."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": SIGNER,
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    credentials: service_account.Credentials
    credentials = service_account.Credentials.from_service_account_info(info)  # type: ignore[no-untyped-call]
    return credentials


def signing_client(key: rsa.RSAPrivateKey) -> Client:
    """A client with a service-account key (it signs locally) and a token already
    issued, so talking to the emulator never asks Google's token endpoint for one."""
    client = Client(project="test-project", credentials=sa_credentials(key))
    credentials = client._credentials  # the client's scoped copy is what it sends
    credentials.token = "emulator-token"
    credentials.expiry = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + (
        datetime.timedelta(hours=1)
    )
    return client
