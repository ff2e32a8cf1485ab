"""The cloud topology on Google's own Pub/Sub emulator, which really pushes and
serves streaming pull.

The deployed shape (infra/terraform/pubsub.tf, worker.yaml): the API as its
function; the worker as a long-running streaming-pull process
(audioconv.entrypoints.pull_worker, App Engine flexible) on two pull
subscriptions, conversion requests and direct-upload notifications; the notifier
as a function the finished topic pushes to.

What each stand-in covers here and in test_topology.py:

- Google's Pub/Sub emulator (this test): topics and subscriptions as Terraform
  makes them; streaming pull with the client library's lease management (its
  ack-deadline extensions), acknowledgement, and redelivery of a message whose
  worker died; for the notifier, push delivery of the envelope functions-framework
  turns into a CloudEvent, acknowledgement by HTTP status, and redelivery of a
  failed push. The subscriptions' ack deadline is cut to 10 s (Terraform's is
  60 s) and ffmpeg is throttled (a wrapper that sleeps before it runs the real
  one), so every conversion outlives the deadline several times over.
- What the emulator does not do: it sends no OIDC token with a push. So the
  notifier here runs with push authentication off, and test_topology.py keeps a
  relay over ``pstest`` that signs each push as Google would, which shows an
  unsigned push refused and signed ones accepted.
- gcp-storage-emulator for Cloud Storage, PostgreSQL for Cloud SQL, an aiosmtpd
  server for the SMTP relay (in both).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.cloud.storage import Bucket
from sqlalchemy import create_engine, text

from audioconv.adapters.ffmpeg import wheel_binaries
from tests.support.audio import decoded_duration, make_audio, probe
from tests.support.db import mark_verified
from tests.support.http_api import HttpApi
from tests.support.procs import fake_ffmpeg, free_port, kill_group, running, serve_function
from tests.support.smtp import Inbox

pytestmark = pytest.mark.slow
PROJECT = "test-project"
# The worker's pull subscriptions' ack deadline here: every conversion outlasts it.
ACK_DEADLINE = 10
# How long the throttled ffmpeg sleeps before it converts: well past ACK_DEADLINE
# and past the task's lease in the database (LEASE), which nothing renews while
# ffmpeg sleeps, so any second delivery of the request would convert again.
THROTTLE = 25
LEASE = 15
# How long after a nack the emulator delivers the message again (measured: ~60 s).
NACK_REDELIVERY = 60
# How often the test calls the sweep Cloud Scheduler calls every 5 minutes in production.
SWEEP_EVERY = 15


@pytest.fixture
def emulator(pubsub_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    return pubsub_emulator


@contextmanager
def topics(notify_url: str) -> Iterator[dict[str, str]]:
    """Fresh topics: pull subscriptions for the worker, a push one to the notifier."""
    suffix = uuid.uuid4().hex[:8]
    publisher, subscriber = PublisherClient(), SubscriberClient()
    names: dict[str, str] = {}
    try:
        for key in ("requests", "uploads", "finished"):
            topic = publisher.topic_path(PROJECT, f"{key}-{suffix}")
            publisher.create_topic(name=topic)
            subscription = f"{key}-{suffix}-sub"
            push = {"push_endpoint": f"{notify_url}/pubsub/conversion-finished"}
            subscriber.create_subscription(
                name=subscriber.subscription_path(PROJECT, subscription),
                topic=topic,
                push_config=push if key == "finished" else None,
                ack_deadline_seconds=60 if key == "finished" else ACK_DEADLINE,
            )
            names[key], names[f"{key}_sub"] = f"{key}-{suffix}", subscription
        yield names
    finally:
        publisher.stop()
        subscriber.close()


class Topology:
    """The API and notifier functions and the pull worker, each its own process."""

    def __init__(self, stack: ExitStack, tmp: Path, env: dict[str, str]) -> None:
        self.stack, self.tmp, self.env = stack, tmp, env
        self.ports = {name: free_port() for name in ("api", "worker", "notify")}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, name: str) -> Any:
        """Start the API or the notifier (under functions-framework) or a worker."""
        log = self.tmp / f"{name}.log"
        if name == "worker":  # as the image starts it on App Engine flexible (worker.yaml)
            env = {**self.env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
            args = [sys.executable, "-m", "audioconv.cli", "pull-worker"]
            return self.stack.enter_context(running(args, env, self.ports[name], log))
        source, target, kind = {
            "api": ("upload_api", "api", "http"),
            "notify": ("notify", "notify", "cloudevent"),
        }[name]
        return self.stack.enter_context(
            serve_function(source, target, kind, self.env, self.ports[name], log)
        )


@pytest.fixture
def topology(
    tmp_path: Path, clean_postgres_url: str, gcs_emulator: str, bucket: Bucket, emulator: str
) -> Iterator[tuple[Topology, Inbox]]:
    smtp_port = free_port()
    inbox = Inbox(smtp_port)
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    ffmpeg, _ = wheel_binaries()
    runs = tmp_path / "ffmpeg-runs"
    with ExitStack() as stack:
        stack.callback(smtp.stop)
        notify_port = free_port()
        names = stack.enter_context(topics(f"http://127.0.0.1:{notify_port}"))
        env = {
            "AUDIOCONV_DATABASE_URL": clean_postgres_url,
            "AUDIOCONV_DATA_DIR": str(tmp_path / "data"),
            "AUDIOCONV_SECRET_KEY": "emulator-topology-secret-key-0123456789",
            "AUDIOCONV_BLOB_BACKEND": "gcs",
            "AUDIOCONV_GCS_BUCKET": bucket.name,
            "STORAGE_EMULATOR_HOST": gcs_emulator,
            "AUDIOCONV_EVENT_BACKEND": "pubsub",
            "AUDIOCONV_GCP_PROJECT": PROJECT,
            "PUBSUB_EMULATOR_HOST": emulator,
            "AUDIOCONV_CONVERSION_TOPIC": names["requests"],
            "AUDIOCONV_FINISHED_TOPIC": names["finished"],
            "AUDIOCONV_CONVERSION_SUBSCRIPTION": names["requests_sub"],
            "AUDIOCONV_DIRECT_UPLOAD_SUBSCRIPTION": names["uploads_sub"],
            "AUDIOCONV_MAX_CONCURRENT_CONVERSIONS": "2",
            "AUDIOCONV_LEASE_SECONDS": str(LEASE),
            # One ffmpeg run per conversion (no report pass, so no waveform beside the
            # output): the runs counted are deliveries converted.
            "AUDIOCONV_REPORT_PASS": "false",
            "AUDIOCONV_FFMPEG_PATH": fake_ffmpeg(
                tmp_path, f'echo "$$" >> {runs}\nsleep {THROTTLE}\nexec {ffmpeg} "$@"'
            ),
            "AUDIOCONV_MAIL_BACKEND": "smtp",
            "AUDIOCONV_SMTP_HOST": "127.0.0.1",
            "AUDIOCONV_SMTP_PORT": str(smtp_port),
            "AUDIOCONV_PUSH_AUTH": "false",  # the emulator signs nothing
        }
        top = Topology(stack, tmp_path, env)
        top.ports["notify"] = notify_port
        yield top, inbox


def ffmpeg_runs(top: Topology) -> int:
    runs = top.tmp / "ffmpeg-runs"
    return len(runs.read_text().splitlines()) if runs.exists() else 0


def claims(url: str, task_id: int) -> tuple[str, int]:
    """The task's status and how many times a worker claimed it, from the database."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT status, attempts FROM tasks WHERE id = :id"), {"id": task_id}
            ).one()
    finally:
        engine.dispose()
    return str(row[0]), int(row[1])


def claims_detail(url: str, task_id: int) -> dict[str, Any]:
    """The task's claim as the database holds it, and the database's clock."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT status, attempts, claim_token, lease_expires_at, now() AS now "
                     "FROM tasks WHERE id = :id"), {"id": task_id},
            ).one()  # fmt: skip
    finally:
        engine.dispose()
    return dict(row._mapping)


def _wait_sweeping(api: HttpApi, top: Topology, task_id: int, timeout: float) -> dict[str, Any]:
    """The task once finished, the API's sweep called every SWEEP_EVERY seconds meanwhile
    (from loopback, which may call it, as Cloud Scheduler does in production)."""
    deadline = time.monotonic() + timeout
    next_sweep = time.monotonic() + SWEEP_EVERY
    while (task := api.task(task_id))["status"] not in ("processed", "failed"):
        if time.monotonic() >= deadline:
            return task
        if time.monotonic() >= next_sweep:
            swept = requests.post(f"{top.url('api')}/api/internal/sweep", timeout=30)
            assert swept.status_code == 200, swept.text
            next_sweep = time.monotonic() + SWEEP_EVERY
        time.sleep(0.5)
    return task


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _ready(inbox: Inbox) -> list[Any]:
    """The completion mails the SMTP server got (not the sign-up's verification link)."""
    return [m for m in inbox.mails if "is ready" in m["Subject"]]


def check_mp3(out: Path, song: Path) -> None:
    info = probe(out)
    assert (info["format"]["format_name"], info["streams"][0]["codec_name"]) == ("mp3", "mp3")
    assert abs(decoded_duration(out) - decoded_duration(song)) < 0.1


def test_a_conversion_outliving_the_ack_deadline_finishes_exactly_once(
    tmp_path: Path, topology: tuple[Topology, Inbox], bucket: Bucket, clean_postgres_url: str
) -> None:
    """The notifier is not up at first: its push fails and is delivered again."""
    top, inbox = topology
    song = make_audio(tmp_path / "song.flac", 2.0)
    top.start("api")
    top.start("worker")
    api = HttpApi(top.url("api"), "lee")
    mark_verified(clean_postgres_url, api.user_id)  # completion mails go to verified addresses
    task_id = api.upload(song, "mp3")["id"]
    task = api.wait(task_id, timeout=THROTTLE * 4)
    assert task["status"] == "processed", (task, (tmp_path / "worker.log").read_text())
    out = api.download(task["links"]["converted"], tmp_path / "song.mp3")
    check_mp3(out, song)
    # One delivery converted it: one ffmpeg run, one claim, one output stored,
    # although the conversion took 2.5 ack deadlines and outlived its DB lease.
    assert ffmpeg_runs(top) == 1
    assert claims(clean_postgres_url, task_id) == ("processed", 1)
    assert len(list(bucket.list_blobs(prefix=f"outputs/{task_id}/"))) == 1
    assert not inbox.mails  # the finished event could not be delivered yet

    top.start("notify")  # the emulator pushes the finished event again: now acknowledged
    wait_for(lambda: _ready(inbox), 120, "the failed push was never delivered again")
    time.sleep(ACK_DEADLINE + 2)  # nothing more arrives: no second delivery, no second mail
    (mail,) = inbox.mails  # verified before the notifier came: no link was mailed
    assert mail["To"] == "lee@example.com"
    assert mail["Subject"] == "Your file song.flac is ready as mp3"
    assert ffmpeg_runs(top) == 1


def test_a_worker_killed_mid_conversion_leaves_it_to_the_next(
    tmp_path: Path, topology: tuple[Topology, Inbox], bucket: Bucket, clean_postgres_url: str
) -> None:
    top, inbox = topology
    song = make_audio(tmp_path / "song.flac", 2.0)
    top.start("api")
    top.start("notify")
    first = top.start("worker")
    api = HttpApi(top.url("api"), "kim")
    mark_verified(clean_postgres_url, api.user_id)  # completion mails go to verified addresses
    task_id = api.upload(song, "mp3")["id"]
    wait_for(lambda: ffmpeg_runs(top) == 1, 60, "the worker never started ffmpeg")
    kill_group(first, signal.SIGKILL)  # mid-conversion, nothing acked
    assert api.task(task_id)["status"] == "processing"

    top.start("worker")
    # The request comes back once its ack deadline has passed; a copy that comes back
    # before the dead worker's lease (LEASE) has run out finds the task busy and is
    # deferred: its ack deadline set to just after that lease ends (at least 10 s), so
    # it comes back then, not at once in a loop nor minutes later as a nacked one can.
    # In production the scheduled sweep job republishes a task whose lease
    # ran out: imitated here, compressed. Its copies, like any redelivery after LEASE,
    # may take the task over from a conversion the throttled ffmpeg keeps from renewing
    # its lease, so the run time still varies (seen: 50 s, or 110 s when a sweep copy
    # took over); the timeout keeps room for a nack's redelivery, which a RetryLater
    # without a time still gets.
    task = _wait_sweeping(
        api, top, task_id, timeout=ACK_DEADLINE + 3 * NACK_REDELIVERY + 2 * THROTTLE
    )
    assert task["status"] == "processed", (
        task,
        claims_detail(clean_postgres_url, task_id),
        (tmp_path / "worker.log").read_text(),
    )
    check_mp3(api.download(task["links"]["converted"], tmp_path / "song.mp3"), song)
    # Converted again by the second worker: once, or more if the sweep's copy and the
    # redelivered one both found the lease run out (nothing renews it while the
    # throttled ffmpeg sleeps); each run was a claim, and one output is kept.
    runs = ffmpeg_runs(top)
    assert runs >= 2 and claims(clean_postgres_url, task_id) == ("processed", runs)
    assert len(list(bucket.list_blobs(prefix=f"outputs/{task_id}/"))) == 1
    wait_for(lambda: _ready(inbox), 60, "no mail")
    (mail,) = _ready(inbox)  # (the sign-up's link may have gone before it was verified)
    assert mail["Subject"] == "Your file song.flac is ready as mp3"
