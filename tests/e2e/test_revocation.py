"""Revocation holds across processes at once: two API processes (the API function under
functions-framework, as deployed: two instances) on one PostgreSQL database. A token
logged out on one is refused by the other at its next request, as are the tokens a
password change or a deleted account revokes; each process's own memory (its cache of
passwords argon2 accepted lately) grants nothing the database no longer does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from tests.support.procs import free_port, serve_function

pytestmark = pytest.mark.slow
SECRET = "revocation-test-secret-key-0123456789"
PASSWORD = "s3cret-pass"
NEW_PASSWORD = "another s3cret pass"


@pytest.fixture
def instances(tmp_path: Path, clean_postgres_url: str) -> Iterator[tuple[str, str]]:
    """The base URLs of two API processes sharing the database (and nothing else)."""
    bases = []
    with ExitStack() as stack:
        for name in ("one", "two"):
            env = {
                "AUDIOCONV_DATABASE_URL": clean_postgres_url,
                "AUDIOCONV_DATA_DIR": str(tmp_path / name),
                "AUDIOCONV_SECRET_KEY": SECRET,
                "AUDIOCONV_EVENT_BACKEND": "queue",
            }
            port = free_port()
            log = tmp_path / f"{name}.log"
            stack.enter_context(serve_function("upload_api", "api", "http", env, port, log))
            bases.append(f"http://127.0.0.1:{port}")
        yield bases[0], bases[1]


def _login(base: str, password: str = PASSWORD) -> requests.Response:
    return requests.post(f"{base}/api/auth/login", timeout=30,
                         json={"username": "rita", "password": password})  # fmt: skip


def _token(base: str, password: str = PASSWORD) -> dict[str, str]:
    response = _login(base, password)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _me(base: str, headers: dict[str, str]) -> int:
    return requests.get(f"{base}/api/me", headers=headers, timeout=30).status_code


def test_revocation_on_one_process_holds_on_the_other_at_once(
    instances: tuple[str, str],
) -> None:
    one, two = instances
    body = {"username": "rita", "email": "rita@example.com",
            "password1": PASSWORD, "password2": PASSWORD}  # fmt: skip
    signed_up = requests.post(f"{one}/api/auth/signup", json=body, timeout=30)
    assert signed_up.status_code == 201, signed_up.text
    first = {"Authorization": f"Bearer {signed_up.json()['token']}"}
    second, third = _token(two), _token(one)
    assert [_me(base, t) for base in (one, two) for t in (first, second, third)] == [200] * 6

    # Logged out on one process: refused by the other at its very next request.
    assert requests.post(f"{one}/api/auth/logout", headers=second, timeout=30).status_code == 204
    assert (_me(two, second), _me(one, second), _me(two, first)) == (401, 401, 200)

    # A new password, set through the second process, revokes every other token there
    # and on the first; the first's password cache does not let the old one in.
    assert _login(one).status_code == 200  # cached in process one now
    change = {"oldPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    changed = requests.put(f"{two}/api/me/password", json=change, headers=third, timeout=30)
    assert changed.status_code == 200 and changed.json() == {"revokedTokens": 2}
    assert (_me(one, first), _me(two, first), _me(one, third), _me(two, third)) == (
        401, 401, 200, 200)  # fmt: skip
    assert (_login(one).status_code, _login(two).status_code) == (401, 401)
    fresh = _token(one, NEW_PASSWORD)

    # The account deleted through the first process: nothing of it works on the second.
    deleted = requests.delete(f"{one}/api/me", json={"password": NEW_PASSWORD},
                              headers=third, timeout=30)  # fmt: skip
    assert deleted.status_code == 200 and deleted.json()["deleted"]["tokens"] == 2
    assert (_me(two, third), _me(two, fresh)) == (401, 401)
    assert _login(two, NEW_PASSWORD).status_code == 401
