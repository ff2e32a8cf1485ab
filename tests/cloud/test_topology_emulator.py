"""The cloud topology on Google's own Pub/Sub emulator, which really pushes.

What each stand-in covers here and in test_topology.py:

- Google's Pub/Sub emulator (this test): topics and push subscriptions as
  Terraform makes them (infra/terraform/pubsub.tf: one per endpoint of the
  worker and the notifier), the push envelope each service receives, and
  acknowledgement by HTTP status: a push that fails (here: the notifier is not
  up yet) is delivered again until a 2xx acknowledges it.
- What the emulator does not do: it sends no OIDC token with a push. So the
  services here run with push authentication off, and test_topology.py keeps a
  relay over ``pstest`` that signs each push as Google would, which shows an
  unsigned push refused and signed ones accepted.
- gcp-storage-emulator for Cloud Storage, PostgreSQL for Cloud SQL, an aiosmtpd
  server for the SMTP relay (in both).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.cloud.storage import Bucket

from tests.integration.test_adapters import _Inbox
from tests.support.audio import decoded_duration, make_audio, probe
from tests.support.http_api import HttpApi
from tests.support.procs import free_port, serve_function

pytestmark = pytest.mark.slow
PROJECT = "test-project"
# Push endpoints, as Terraform's push subscriptions name them.
ENDPOINTS = {
    "requests": ("worker", "/pubsub/conversion-requests"),
    "uploads": ("worker", "/pubsub/direct-uploads"),
    "finished": ("notify", "/pubsub/conversion-finished"),
}


@pytest.fixture
def emulator(pubsub_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    return pubsub_emulator


@contextmanager
def push_topics(urls: dict[str, str]) -> Iterator[dict[str, str]]:
    """Fresh topics, each with a push subscription to its service's endpoint."""
    suffix = uuid.uuid4().hex[:8]
    publisher, subscriber = PublisherClient(), SubscriberClient()
    names: dict[str, str] = {}
    try:
        for key, (service, path) in ENDPOINTS.items():
            topic = publisher.topic_path(PROJECT, f"{key}-{suffix}")
            publisher.create_topic(name=topic)
            subscriber.create_subscription(
                name=subscriber.subscription_path(PROJECT, f"{key}-{suffix}-push"),
                topic=topic,
                push_config={"push_endpoint": f"{urls[service]}{path}"},
                ack_deadline_seconds=60,
            )
            names[key] = f"{key}-{suffix}"
        yield names
    finally:
        publisher.stop()
        subscriber.close()


def test_pushes_convert_and_notify_and_a_failed_push_comes_again(
    tmp_path: Path,
    clean_postgres_url: str,
    gcs_emulator: str,
    bucket: Bucket,
    emulator: str,
) -> None:
    song = make_audio(tmp_path / "song.flac", 2.0)
    ports = {name: free_port() for name in ("api", "worker", "notify")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    inbox, smtp_port = _Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()

    with ExitStack() as stack:
        stack.callback(smtp.stop)
        topics = stack.enter_context(push_topics(urls))
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
            "AUDIOCONV_CONVERSION_TOPIC": topics["requests"],
            "AUDIOCONV_FINISHED_TOPIC": topics["finished"],
            "AUDIOCONV_MAIL_BACKEND": "smtp",
            "AUDIOCONV_SMTP_HOST": "127.0.0.1",
            "AUDIOCONV_SMTP_PORT": str(smtp_port),
            "AUDIOCONV_PUSH_AUTH": "false",  # the emulator signs nothing
        }
        functions = {
            "api": ("upload_api", "api", "http"),
            "worker": ("convert_worker", "convert", "cloudevent"),
            "notify": ("notify", "notify", "cloudevent"),
        }

        def start(name: str) -> None:
            source, target, kind = functions[name]
            log = tmp_path / f"{name}.log"
            stack.enter_context(serve_function(source, target, kind, env, ports[name], log))

        start("api")
        start("worker")  # the notifier is not up yet: its pushes fail

        api = HttpApi(urls["api"], "lee")
        task = api.wait(api.upload(song, "mp3")["id"], timeout=90)
        assert task["status"] == "processed", (task, (tmp_path / "worker.log").read_text())
        out = api.download(task["links"]["converted"], tmp_path / "song.mp3")
        assert not inbox.messages  # the finished event could not be delivered

        start("notify")  # the emulator pushes the finished event again: now acknowledged
        deadline = time.monotonic() + 120
        while not inbox.messages:
            assert time.monotonic() < deadline, "the failed push was never delivered again"
            time.sleep(0.2)

    info = probe(out)
    assert (info["format"]["format_name"], info["streams"][0]["codec_name"]) == ("mp3", "mp3")
    assert abs(decoded_duration(out) - decoded_duration(song)) < 0.1
    (mail,) = inbox.messages
    assert mail["To"] == "lee@example.com"
    assert mail["Subject"] == "Your file song.flac is ready as mp3"
