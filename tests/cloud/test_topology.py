"""The cloud topology end to end, on this machine's stand-ins for Google Cloud.

Three functions, each served over HTTP by functions-framework, in cloud mode:
PostgreSQL for Cloud SQL, gcp-storage-emulator for GCS, pstest for Pub/Sub, an
aiosmtpd server for mail. pstest does not push, so a relay pulls each
subscription and POSTs the real push envelope, with an OIDC token signed by a
local stand-in for Google's keys, to each function. From upload to converted
to notified. On App Engine only the notifier is pushed to (the worker pulls:
test_topology_emulator.py); the worker's push function is the same handler
for push deployments (the image's `audioconv function convert`, e.g. on Cloud
Run), and its push authentication is the notifier's.

This relay stays for what Google's Pub/Sub emulator does not do: it pushes with
no OIDC token, so push authentication (unsigned pushes refused, Google-signed
ones accepted) is shown here. Real push delivery, acknowledgement by HTTP status
and redelivery of a failed push are shown on the emulator itself, in
test_topology_emulator.py.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests
from aiosmtpd.controller import Controller
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.cloud.storage import Bucket

from audioconv.services.direct_uploads import DirectKey
from tests.cloud.oidc import CertsServer, start_certs_server
from tests.support.audio import TAGS, decoded_duration, make_audio, probe, tags_of
from tests.support.http_api import HttpApi
from tests.support.procs import free_port, serve_function
from tests.support.smtp import Inbox

pytestmark = pytest.mark.slow
PROJECT = "test-project"
PUSHER = "push@test-project.iam.gserviceaccount.com"


class Relay:
    """Pulls subscriptions on pstest and pushes each message as Pub/Sub push would."""

    def __init__(self, certs: CertsServer) -> None:
        self.subscriber = SubscriberClient()
        self.certs = certs
        self.routes: list[tuple[str, str]] = []  # (subscription path, endpoint)
        self.rejected: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def route(self, subscription: str, endpoint: str) -> None:
        self.routes.append((subscription, endpoint))

    def _run(self) -> None:
        while not self.stop.is_set():
            for subscription, endpoint in self.routes:
                self._pump(subscription, endpoint)
            time.sleep(0.05)

    def _pump(self, subscription: str, endpoint: str) -> None:
        response = self.subscriber.pull(
            subscription=subscription, max_messages=10, timeout=5, return_immediately=True
        )
        for received in response.received_messages:
            msg = received.message
            envelope = {
                "message": {
                    "data": base64.b64encode(msg.data).decode(),
                    "attributes": dict(msg.attributes),
                    "messageId": msg.message_id,
                    "publishTime": msg.publish_time.isoformat(),
                },
                "subscription": subscription,
            }
            audience = endpoint.split("/pubsub/")[0]
            token = self.certs.mint_token(audience, PUSHER)
            reply = requests.post(endpoint, json=envelope, timeout=120,
                                  headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            if reply.ok:
                self.subscriber.acknowledge(subscription=subscription, ack_ids=[received.ack_id])
            else:
                self.rejected.append(reply.status_code)
                self.subscriber.modify_ack_deadline(
                    subscription=subscription, ack_ids=[received.ack_id], ack_deadline_seconds=0
                )

    def __enter__(self) -> Relay:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.subscriber.close()


@pytest.fixture
def topics(pubsub_host: str) -> Iterator[dict[str, str]]:
    """Topics and subscriptions as Terraform makes them (fresh names per test)."""
    suffix = uuid.uuid4().hex[:8]
    publisher, subscriber = PublisherClient(), SubscriberClient()
    names = {k: f"{k}-{suffix}" for k in ("requests", "finished", "uploads")}
    paths: dict[str, str] = {}
    for key, name in names.items():
        topic = publisher.topic_path(PROJECT, name)
        publisher.create_topic(name=topic)
        sub = subscriber.subscription_path(PROJECT, f"{name}-push")
        subscriber.create_subscription(name=sub, topic=topic, ack_deadline_seconds=60)
        paths[key] = sub
        paths[f"{key}_topic"] = name
    yield paths
    publisher.stop()
    subscriber.close()


def test_upload_converted_notified_across_three_services(
    tmp_path: Path,
    clean_postgres_url: str,
    gcs_emulator: str,
    bucket: Bucket,
    pubsub_host: str,
    topics: dict[str, str],
) -> None:
    song = make_audio(tmp_path / "song.m4a", 2.5, ("-c:a", "aac"), TAGS)
    ports = {name: free_port() for name in ("api", "worker", "notify")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    smtp_port = free_port()
    inbox = Inbox(smtp_port)
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()

    with ExitStack() as stack:
        stack.callback(smtp.stop)
        certs = stack.enter_context(start_certs_server())
        common = {
            "AUDIOCONV_DATABASE_URL": clean_postgres_url,
            "AUDIOCONV_DATA_DIR": str(tmp_path / "data"),
            "AUDIOCONV_SECRET_KEY": "topology-test-secret-key-0123456789",
            "AUDIOCONV_BLOB_BACKEND": "gcs",
            "AUDIOCONV_GCS_BUCKET": bucket.name,
            "STORAGE_EMULATOR_HOST": gcs_emulator,
            "AUDIOCONV_EVENT_BACKEND": "pubsub",
            "AUDIOCONV_GCP_PROJECT": PROJECT,
            "PUBSUB_EMULATOR_HOST": pubsub_host,
            "AUDIOCONV_CONVERSION_TOPIC": topics["requests_topic"],
            "AUDIOCONV_FINISHED_TOPIC": topics["finished_topic"],
            "AUDIOCONV_MAIL_BACKEND": "smtp",
            "AUDIOCONV_SMTP_HOST": "127.0.0.1",
            "AUDIOCONV_SMTP_PORT": str(smtp_port),
            "AUDIOCONV_PUBLIC_URL": "https://api.example.com",
            "AUDIOCONV_OIDC_CERTS_URL": certs.url,
            "AUDIOCONV_PUSH_SERVICE_ACCOUNT": PUSHER,
        }
        for name, source, target, kind in (
            ("api", "upload_api", "api", "http"),
            ("worker", "convert_worker", "convert", "cloudevent"),
            ("notify", "notify", "notify", "cloudevent"),
        ):
            env = {**common, "AUDIOCONV_PUSH_AUTH": str(name != "api").lower(),
                   "AUDIOCONV_PUSH_AUDIENCE": urls[name]}  # fmt: skip
            stack.enter_context(
                serve_function(source, target, kind, env, ports[name], tmp_path / f"{name}.log")
            )

        # An unauthenticated push is refused before anything happens.
        unsigned = requests.post(f"{urls['worker']}/pubsub/conversion-requests", timeout=10,
                                 json={"message": {"data": "e30=", "messageId": "x"},
                                       "subscription": "s"})  # fmt: skip
        assert unsigned.status_code == 401, unsigned.text
        assert "Authorization" in unsigned.json()["message"]

        relay = stack.enter_context(Relay(certs))
        relay.route(topics["requests"], f"{urls['worker']}/pubsub/conversion-requests")
        relay.route(topics["uploads"], f"{urls['worker']}/pubsub/direct-uploads")
        relay.route(topics["finished"], f"{urls['notify']}/pubsub/conversion-finished")

        api = HttpApi(urls["api"], "kim")
        # The sign-up's link, sent by the notify service (an account mail on the finished
        # topic, pushed), verifies the address: completion mails go to it from then on.
        deadline = time.monotonic() + 60
        while not inbox.mails:
            assert time.monotonic() < deadline, (tmp_path / "notify.log").read_text()
            time.sleep(0.1)
        body = inbox.mails[0].get_payload(decode=True).decode()
        assert inbox.mails[0]["Subject"] == "Confirm your e-mail address for audioconv"
        link = body[body.index("/api/auth/verify-email?token=") :].split()[0]
        assert requests.get(f"{urls['api']}{link}", timeout=10).status_code == 200
        created = api.upload(song, "mp3")
        task = api.wait(created["id"], timeout=90)
        assert task["status"] == "processed", (task, (tmp_path / "worker.log").read_text())
        out = api.download(task["links"]["converted"], tmp_path / "song.mp3")
        # The converted file really is in the bucket, under the task's revision.
        assert any(b.name.startswith(f"outputs/{task['id']}/r1/") for b in bucket.list_blobs())

        # A direct upload: the client PUTs to the signed URL (here straight into the
        # emulator: its anonymous client cannot sign), and GCS announces the object.
        upload_id = uuid.uuid4().hex
        key = DirectKey(api.user_id, upload_id, "ogg", "big.m4a").key
        bucket.blob(key).upload_from_filename(str(song))
        PublisherClient().publish(
            PublisherClient.topic_path(PROJECT, topics["uploads_topic"]),
            f'{{"name": "{key}", "bucket": "{bucket.name}"}}'.encode(),
            eventType="OBJECT_FINALIZE", objectId=key, bucketId=bucket.name,
            payloadFormat="JSON_API_V1",
        ).result(timeout=10)  # fmt: skip
        deadline = time.monotonic() + 60
        while (status := api.get(f"/api/uploads/{upload_id}")
               ).status_code == 202:  # fmt: skip
            assert time.monotonic() < deadline, "direct upload never became a task"
            time.sleep(0.2)
        direct = api.wait(status.json()["id"], timeout=90)
        assert direct["status"] == "processed", direct

        deadline = time.monotonic() + 30
        while len(inbox.mails) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert relay.rejected == []

    info = probe(out)
    assert (info["format"]["format_name"], info["streams"][0]["codec_name"]) == ("mp3", "mp3")
    assert abs(decoded_duration(out) - decoded_duration(song)) < 0.1
    assert tags_of(info)["title"] == TAGS["title"]
    assert sorted(m["To"] for m in inbox.mails) == ["kim@example.com"] * 3
    subjects = sorted(m["Subject"] for m in inbox.mails[1:])
    assert subjects == ["Your file big.m4a is ready as ogg", "Your file song.m4a is ready as mp3"]
    assert f"https://api.example.com/api/tasks/{task['id']}/converted" in "".join(
        m.get_payload() for m in inbox.mails
    )
