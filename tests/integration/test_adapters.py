"""Local adapters on the real thing: disk, an SMTP server, and functions-framework's events."""

from __future__ import annotations

import base64
import email
import json
import time
import tracemalloc
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from audioconv.adapters.inprocess_bus import InProcessBus
from audioconv.adapters.local_blob import LocalBlobStore
from audioconv.adapters.mail import FolderMailer, SmtpMailer
from audioconv.entrypoints import pubsub_push
from audioconv.ports import Message as BusMessage
from tests.support.blobs import mail_files
from tests.support.smtp import Inbox, free_port


def test_local_blob_store_streams_and_confines_keys(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:  # 64 MiB, written sparsely
        fh.truncate(64 << 20)
        fh.write(b"start")
    tracemalloc.start()
    store.put_file("a/b/big.bin", big, "application/octet-stream")
    store.download_to("a/b/big.bin", tmp_path / "copy.bin")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak} bytes: a whole file was held in memory"
    assert store.size("a/b/big.bin") == 64 << 20
    assert (tmp_path / "copy.bin").read_bytes()[:5] == b"start"
    with store.open_read("a/b/big.bin") as fh:
        assert fh.read(5) == b"start"
    store.delete("a/b/big.bin")
    store.delete("a/b/big.bin")  # deleting twice is fine
    assert store.size("a/b/big.bin") is None
    assert not (tmp_path / "blobs" / "a").exists()  # empty folders pruned
    with pytest.raises(KeyError):
        store.open_read("missing")
    with pytest.raises(ValueError):
        store.put_file("../escape", big, "x")


def test_folder_mailer_writes_eml(tmp_path: Path) -> None:
    FolderMailer(tmp_path / "mail", "svc <svc@x.org>").send("u@x.org", "Hi", "Body text")
    (eml,) = mail_files(tmp_path / "mail")
    msg = email.message_from_bytes(eml.read_bytes())
    assert (msg["To"], msg["Subject"]) == ("u@x.org", "Hi")
    assert "Body text" in msg.get_payload()


def test_smtp_mailer_delivers_to_a_real_smtp_server() -> None:
    port = free_port()
    inbox = Inbox(port)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        SmtpMailer("127.0.0.1", port, "svc@x.org").send("user@x.org", "Done", "It worked")
    finally:
        controller.stop()
    (msg,) = inbox.mails
    assert msg["To"] == "user@x.org" and msg["Subject"] == "Done"
    assert "It worked" in msg.get_payload()


def test_inprocess_bus_delivers_what_the_push_edge_makes_of_a_push() -> None:
    """The embedded bus hands a handler the very Message that the push edge decodes
    from what functions-framework makes of a real Pub/Sub push."""
    import functions_framework

    seen: list[BusMessage] = []
    bus = InProcessBus()
    bus.subscribe("topic", seen.append, 1)
    message_id = bus.publish("topic", {"taskId": 7, "revision": 2}, {"taskId": "7"})
    bus.close(wait=True)
    (ours,) = seen

    source = Path(__file__).parent / "_capture_function.py"
    app = functions_framework.create_app("capture", str(source), "cloudevent")
    envelope = {
        "message": {
            "data": base64.b64encode(json.dumps({"taskId": 7, "revision": 2}).encode()).decode(),
            "attributes": {"taskId": "7"},
            "messageId": message_id,
            "publishTime": "2026-01-01T00:00:00Z",
        },
        "subscription": "projects/p/subscriptions/s",
    }
    response = app.test_client().post("/", json=envelope)
    assert response.status_code == 200
    theirs = app.config["captured"]
    assert theirs["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert pubsub_push.decode(theirs) == ours
    assert ours == BusMessage(message_id, {"taskId": 7, "revision": 2}, {"taskId": "7"})


def test_inprocess_bus_retries_a_failing_handler() -> None:
    calls: list[float] = []

    def flaky(message: BusMessage) -> None:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise RuntimeError("transient")

    bus = InProcessBus(max_attempts=5, backoff_seconds=0.05)
    bus.subscribe("t", flaky, 1)
    bus.publish("t", {}, {})
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    bus.close(wait=True)
    assert len(calls) == 3


def test_inprocess_bus_skips_copies_of_a_message_still_pending() -> None:
    """The sweep republishing queued work must not queue it twice."""
    import threading

    gate = threading.Event()
    seen: list[BusMessage] = []

    def slow(message: BusMessage) -> None:
        seen.append(message)
        gate.wait(5)

    bus = InProcessBus()
    bus.subscribe("t", slow, 1)
    for _ in range(3):
        bus.publish("t", {"taskId": 1, "revision": 1}, {})
    bus.publish("t", {"taskId": 1, "revision": 2}, {})
    gate.set()
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    bus.publish("t", {"taskId": 1, "revision": 1}, {})  # done by now: delivered again
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    bus.close(wait=True)
    revisions = [message.data["revision"] for message in seen]
    assert revisions == [1, 2, 1]


def test_local_blob_store_writes_if_absent_once_and_lists_keys(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    first, second = tmp_path / "1", tmp_path / "2"
    first.write_bytes(b"first")
    second.write_bytes(b"second")
    store.put_file("up/a/x.wav", first, "audio/wav", if_absent=True)
    with pytest.raises(FileExistsError):
        store.put_file("up/a/x.wav", second, "audio/wav", if_absent=True)
    with store.open_read("up/a/x.wav") as fh:
        assert fh.read() == b"first"  # the refused write changed nothing, left nothing
    store.put_file("out/y.mp3", second, "audio/mpeg")
    assert list(store.keys("")) == ["out/y.mp3", "up/a/x.wav"]
    assert list(store.keys("up/")) == ["up/a/x.wav"]


def test_local_blob_store_takes_a_moved_file_by_rename(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    spool = tmp_path / "spool.bin"
    spool.write_bytes(b"uploaded once")
    inode = spool.stat().st_ino
    store.put_file("uploads/u/a.mp3", spool, "audio/mpeg", move=True)
    assert not spool.exists()  # taken, not copied: one write of the upload in all
    assert (tmp_path / "blobs" / "uploads/u/a.mp3").stat().st_ino == inode
    kept = tmp_path / "kept.bin"
    kept.write_bytes(b"x")
    store.put_file("uploads/u/b.mp3", kept, "audio/mpeg")
    assert kept.exists()  # without move the caller's file stays
