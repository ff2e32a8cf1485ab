"""What the embedded server (gunicorn) itself says to a hostile client, over real sockets."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.audio import make_audio
from tests.support.procs import embedded_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("embedded")
    # What an older run left readable by everyone (issue 18: 0644 files, 0755 folders).
    old = folder / "data" / "mail"
    old.mkdir(parents=True)
    (old / "old.eml").write_text("To: someone")
    for path, mode in ((folder / "data", 0o755), (old, 0o755), (old / "old.eml", 0o644)):
        path.chmod(mode)
    return folder


@pytest.fixture(scope="module")
def base(folder: Path) -> Iterator[str]:
    with embedded_server(folder) as url:
        yield url


def _token(base: str, name: str) -> str:
    body = {"username": name, "email": f"{name}@example.com",
            "password1": "correct horse battery", "password2": "correct horse battery"}  # fmt: skip
    response = requests.post(f"{base}/api/auth/signup", json=body, timeout=30)
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def _exchange(base: str, request: bytes) -> tuple[bytes, bytes]:
    """Send ``request`` on a fresh connection; the answer's head, and whatever follows it
    until the server closes the connection (b"" if it closes right after the answer)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"closed before an answer: {data!r}"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(next(
            line.split(b":", 1)[1] for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ))  # fmt: skip
        while len(rest) < length:
            rest += sock.recv(65536)
        after = rest[length:]
        while chunk := sock.recv(65536):  # returns b"" once the server has closed
            after += chunk
    return head, after


def test_no_server_header(base: str) -> None:
    response = requests.get(f"{base}/healthz", timeout=10)
    assert response.status_code == 200
    assert "Server" not in response.headers


def test_a_413_says_close_and_closes(base: str) -> None:
    body = json.dumps({"username": "eve", "password": "x" * 200_000}).encode()
    request = (
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    ) + body
    head, after = _exchange(base, request)
    lines = head.split(b"\r\n")
    assert lines[0].startswith(b"HTTP/1.1 413"), head
    assert b"Connection: close" in lines, head
    assert not any(line.lower().startswith(b"server:") for line in lines), head
    assert after == b""  # and nothing else: the connection was closed


def test_a_small_json_body_keeps_the_connection(base: str) -> None:
    with requests.Session() as session:
        for _ in range(2):
            body = {"username": "nobody", "password": "wrong-pass"}
            response = session.post(f"{base}/api/auth/login", json=body, timeout=10)
            assert response.status_code == 401
            assert response.headers.get("Connection", "keep-alive") == "keep-alive"


def _outside_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
            address = str(probe.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_sweep_from_outside_needs_more_than_the_cron_header(base: str) -> None:
    loopback = requests.post(f"{base}/api/internal/sweep", timeout=30)
    assert loopback.status_code == 200, loopback.text
    outside = _outside_address()
    if outside is None:
        pytest.skip("this machine has no non-loopback address to call from")
    port = base.rsplit(":", 1)[1]
    forged = requests.post(f"http://{outside}:{port}/api/internal/sweep", timeout=30,
                           headers={"X-Appengine-Cron": "true"})  # fmt: skip
    assert forged.status_code == 403
    assert "scheduler" in forged.json()["message"]


# --- issue 18 ---------------------------------------------------------------------------


def test_the_spool_file_of_a_killed_api_process_is_removed_at_once(base: str, folder: Path) -> None:
    """An upload's body, half received, by an API process killed with SIGKILL: gunicorn's
    master reports the death and the file goes then, not at the next start."""
    token = _token(base, "spooler")
    host, port = base.removeprefix("http://").split(":")
    part = (b"--b\r\nContent-Disposition: form-data; name=\"fileName\"; filename=\"a.wav\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n")  # fmt: skip
    head = (f"POST /api/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {len(part) + 10_000_000}\r\n\r\n").encode()  # fmt: skip
    spool = folder / "data" / "work" / "incoming"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + part + b"\0" * 3_000_000)  # past one read of the spooler
        deadline = time.monotonic() + 30
        while not (found := sorted(spool.glob("upload-*"))):
            assert time.monotonic() < deadline, "the upload never reached the spool"
            time.sleep(0.05)
        os.kill(_writer_of(found[0]), signal.SIGKILL)
        deadline = time.monotonic() + 20
        while found[0].exists():
            assert time.monotonic() < deadline, f"{found[0]} is still there"
            time.sleep(0.1)
    assert requests.get(f"{base}/healthz", timeout=30).status_code == 200


@pytest.mark.parametrize("form", [True, False], ids=["multipart", "raw"])
def test_an_upload_cut_short_is_a_400_and_keeps_nothing(
    base: str, folder: Path, form: bool
) -> None:
    """A body that ends (the client stops sending) before its Content-Length: a 400 in
    our words, no task, no spool file; the file is not stored as if whole. (Half of it is
    more than the server buffers before the request takes a thread: gunicorn_worker.py.)"""
    token = _token(base, f"cut{int(form)}")
    audio = make_audio(folder / "whole.wav", 4.0).read_bytes()
    if form:
        part = (b"--b\r\nContent-Disposition: form-data; name=\"newFormat\"\r\n\r\nmp3\r\n"
                b"--b\r\nContent-Disposition: form-data; name=\"fileName\"; filename=\"a.wav\"\r\n"
                b"Content-Type: audio/wav\r\n\r\n") + audio + b"\r\n--b--\r\n"  # fmt: skip
        target, kind = "/api/tasks", "multipart/form-data; boundary=b"
    else:
        part, target, kind = audio, "/api/tasks?fileName=a.wav&newFormat=mp3", "audio/wav"
    head = (f"POST {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: {kind}\r\nContent-Length: {len(part)}\r\n\r\n").encode()  # fmt: skip
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + part[: len(part) // 2])
        sock.shutdown(socket.SHUT_WR)  # no more bytes will come
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status, _, rest = answer.partition(b"\r\n")
    assert status.split()[1] == b"400", answer[:300]
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert "ended before its Content-Length" in body["message"]
    listed = requests.get(f"{base}/api/tasks", headers={"Authorization": f"Bearer {token}"},
                          timeout=30)  # fmt: skip
    assert listed.status_code == 200 and listed.json() == []
    assert not sorted((folder / "data" / "work" / "incoming").glob("upload-*"))


def _writer_of(path: Path) -> int:
    """The process that has ``path`` open (the API worker receiving the upload)."""
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            if os.readlink(fd) == str(path):
                return int(fd.parts[2])
        except OSError:  # gone meanwhile, or not ours to read
            continue
    raise AssertionError(f"no process has {path} open")


def test_the_data_folder_is_private_to_the_server(base: str, folder: Path) -> None:
    token = _token(base, "private")
    song = make_audio(folder / "song.wav", 0.5)
    with song.open("rb") as fh:
        created = requests.post(f"{base}/api/tasks", headers={"Authorization": f"Bearer {token}"},
                                files={"fileName": ("song.wav", fh)}, data={"newFormat": "mp3"},
                                timeout=60)  # fmt: skip
    assert created.status_code == 201, created.text
    task_url = f"{base}/api/tasks/{created.json()['id']}"
    deadline = time.monotonic() + 60
    while requests.get(task_url, headers={"Authorization": f"Bearer {token}"},
                       timeout=30).json()["status"] != "processed":  # fmt: skip
        assert time.monotonic() < deadline
        time.sleep(0.2)
    data = folder / "data"
    found = [data, *data.rglob("*")]
    assert any(p.name == "audioconv.db" for p in found) and any(p.suffix == ".mp3" for p in found)
    loose = [f"{p} {p.stat().st_mode & 0o777:o}" for p in found
             if not p.is_symlink() and p.stat().st_mode & 0o077]  # fmt: skip
    assert loose == []


def _answer(base: str, request: bytes, timeout: float = 30) -> tuple[bytes, bytes]:
    """The first answer to ``request`` on a fresh connection: its head (every interim
    answer, such as 100 Continue, before it) and its body."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                assert chunk, f"closed before an answer: {data!r}"
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 1"):
                break
            data = rest  # an interim answer: the real one follows
        length = int(next(
            line.split(b":", 1)[1] for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ))  # fmt: skip
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk
            rest += chunk
    return head, rest[:length]


def _json_error(head: bytes, body: bytes, status: int) -> str:
    assert head.startswith(b"HTTP/1.1 %d" % status), head
    lines = [line.lower() for line in head.split(b"\r\n")]
    assert b"content-type: application/json" in lines, head
    assert b"x-content-type-options: nosniff" in lines, head
    answer = json.loads(body)
    assert set(answer) == {"message", "requestId"}, answer
    return str(answer["message"])


LOGIN = b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


@pytest.mark.parametrize(
    "request_bytes",
    [
        # A chunk size that is no number.
        LOGIN + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        # A 70 KB chunk extension.
        LOGIN + b"Transfer-Encoding: chunked\r\n\r\n2;" + b"x" * 70_000 + b"\r\n{}\r\n0\r\n\r\n",
        # multipart with no boundary, or an empty one.
        b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
        b"Content-Type: multipart/form-data\r\nContent-Length: 4\r\n\r\n--x\n",
    ],
    ids=["chunk-size-zz", "chunk-extension-70k", "multipart-without-boundary"],
)
def test_malformed_bodies_are_a_json_400(base: str, request_bytes: bytes) -> None:
    if b"%s" in request_bytes:
        request_bytes = request_bytes.replace(b"%s", _token(base, "multi").encode())
    head, body = _answer(base, request_bytes)
    assert _json_error(head, body, 400)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
     (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
     (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n", 400),
     (b"BREW /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 400)],
)  # fmt: skip
def test_the_servers_own_errors_are_json_too(base: str, request_bytes: bytes, status: int) -> None:
    head, body = _answer(base, request_bytes)
    assert _json_error(head, body, status)


def test_chunked_json_over_the_limit_is_a_413(base: str) -> None:
    chunk = b'{"username": "' + b"a" * 70_000 + b'", "password": "x"}'
    request = LOGIN + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (
        len(chunk),
        chunk,
    )
    head, body = _answer(base, request)
    assert "65536 bytes" in _json_error(head, body, 413)


def test_expect_100_continue_over_the_limit_is_a_413_at_once(base: str) -> None:
    request = LOGIN + b"Content-Length: 200000\r\nExpect: 100-continue\r\n\r\n"
    head, body = _answer(base, request)  # no body is sent: it waits for our answer
    assert b"100 Continue" not in head
    assert "65536 bytes" in _json_error(head, body, 413)
    # A body within the limit is asked for, and read.
    small = b'{"username": "nobody", "password": "wrong-pass"}'
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(LOGIN + b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(small))
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(small)
        assert sock.recv(100).startswith(b"HTTP/1.1 401")


def test_a_wrong_method_says_which_are_allowed(base: str) -> None:
    response = requests.delete(f"{base}/api/tasks", timeout=30)
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert set(response.json()) == {"message", "requestId"}


def test_healthz_answers_while_200_slow_clients_trickle_their_bodies(base: str) -> None:
    """Issue 18: connections that send a login body a byte at a time once took every
    thread. Here 200 of them are open (and trickling) while /healthz is asked 20 times;
    no test times anything: each answer must come, and the slow ones are cut in time."""
    host, port = base.removeprefix("http://").split(":")
    body = b'{"username": "slow", "password": "slow-slow-slow"}'
    request = LOGIN + b"Content-Length: %d\r\n\r\n" % len(body)
    slow = []
    try:
        for _ in range(200):
            sock = socket.create_connection((host, int(port)), timeout=30)
            sock.sendall(request + body[:1])
            slow.append(sock)
        for round_ in range(20):
            for sock in slow[round_ * 10 : round_ * 10 + 10]:
                sock.sendall(body[1:2])  # still trickling
            assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
    finally:
        for sock in slow:
            sock.close()
