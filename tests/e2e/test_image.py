"""The container image as a self-hoster runs it: built, started, used over HTTP.

No Docker engine runs here and podman's runtime (crun) refuses this machine's
hybrid cgroups, so the image is built with podman's chroot isolation from a local
Debian base (scripts/build_image.sh), and run as its config says (entrypoint,
environment, working directory, user) from ``podman image mount``: by chroot, in
a private mount namespace with a fresh volume on /data and a tmpfs on /tmp. That
is what ``docker run -p 8080:8080 -v DATA:/data IMAGE`` runs; only the container
runtime's isolation (network, pid namespace, cgroups) is not exercised.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from tests.support.audio import make_audio, probe
from tests.support.blobs import mails_to
from tests.support.http_api import HttpApi
from tests.support.procs import ROOT, free_port, kill_group, wait_http

pytestmark = pytest.mark.slow
TAG = "localhost/audioconv:test"
WORKER_TAG = "localhost/audioconv-worker:test"  # the Dockerfile's worker target
CACHE = ROOT / "build" / "image"
PODMAN = ["podman", "--root", str(CACHE / "storage"), "--runroot", str(CACHE / "run")]


@pytest.fixture(scope="module")
def image() -> Iterator[tuple[Path, dict[str, Any]]]:
    """The built image's root file system (mounted read-only) and its config."""
    missing = [tool for tool in ("podman", "mmdebstrap", "unshare") if not shutil.which(tool)]
    if missing or os.geteuid() != 0:
        reason = f"building the image needs root and {missing or 'podman'} (make system-deps)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    build = subprocess.run(
        [str(ROOT / "scripts" / "build_image.sh"), TAG], capture_output=True, text=True
    )
    assert build.returncode == 0, f"image build failed:\n{build.stderr[-4000:]}"
    config = json.loads(
        subprocess.run(
            [*PODMAN, "image", "inspect", "--format", "{{json .Config}}", TAG],
            check=True, capture_output=True, text=True,
        ).stdout
    )  # fmt: skip
    mount = subprocess.run(
        [*PODMAN, "image", "mount", TAG], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        yield Path(mount), config
    finally:
        subprocess.run([*PODMAN, "image", "unmount", TAG], capture_output=True)


@contextmanager
def run_image(
    image: tuple[Path, dict[str, Any]],
    data: Path,
    log: Path,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[subprocess.Popen[bytes]]:
    """Start the image's entrypoint as ``docker run -v DATA:/data IMAGE ARGS`` would."""
    rootfs, config = image
    uid, _, gid = str(config.get("User") or "0").partition(":")
    data.mkdir(parents=True, exist_ok=True)
    os.chown(data, int(uid), int(gid or uid))
    environment = [*config["Env"], *(f"{k}={v}" for k, v in (env or {}).items())]
    command = [*config["Entrypoint"], *(args or config.get("Cmd") or [])]
    inside = f"cd {shlex.quote(config['WorkingDir'])} && exec {shlex.join(command)}"
    script = " && ".join(
        [
            f"mount --bind {shlex.quote(str(data))} {rootfs}/data",
            f"mount -t tmpfs tmpfs {rootfs}/tmp",
            f"mount -t proc proc {rootfs}/proc",
            f"mount --rbind /dev {rootfs}/dev",
            f"exec chroot --userspec={uid}:{gid or uid} {rootfs} "
            f"env -i {shlex.join(environment)} sh -c {shlex.quote(inside)}",
        ]
    )
    with log.open("ab") as out:
        proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--fork", "sh", "-c", script],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield proc
    finally:
        kill_group(proc, signal.SIGTERM)


def test_docker_run_with_no_settings_is_the_whole_service(
    image: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    song = make_audio(tmp_path / "song.wav", 2.0)
    port = free_port()
    log = tmp_path / "image.log"
    with run_image(image, tmp_path / "volume", log, {"PORT": str(port)}) as proc:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, log, timeout=120)
        api = HttpApi(f"http://127.0.0.1:{port}", "ida")  # the database was migrated
        api.verify_email(tmp_path / "volume" / "mail")  # the link mailed at sign-up
        task = api.wait(api.upload(song, "opus")["id"], timeout=120, report=True)
        assert task["status"] == "processed", (task, log.read_text())
        out = api.download(task["links"]["converted"], tmp_path / "song.opus")
        deadline = time.monotonic() + 30  # the notifier runs just after the conversion
        while not mails_to(tmp_path / "volume" / "mail", "ida@example.com", "is ready"):
            assert time.monotonic() < deadline, f"no mail arrived:\n{log.read_text()}"
            time.sleep(0.2)
    info = probe(out)
    assert (info["format"]["format_name"], info["streams"][0]["codec_name"]) == ("ogg", "opus")
    assert abs(float(info["format"]["duration"]) - 2.0) < 0.1
    # Everything the service keeps is in the volume, owned by the image's user.
    volume = tmp_path / "volume"
    assert (volume / "audioconv.db").is_file() and (volume / "secret_key").is_file()
    stored = sorted(p.name for p in (volume / "blobs").rglob("*") if p.is_file())
    assert stored == ["song.opus", "song.wav", "waveform.png"]
    assert (volume / "audioconv.db").stat().st_uid == int(image[1]["User"].partition(":")[0])


def test_one_function_runs_against_the_cloud_settings(
    image: tuple[Path, dict[str, Any]], tmp_path: Path, clean_postgres_url: str
) -> None:
    log = tmp_path / "image.log"
    # Alone, a function would be half a service on a private SQLite file: refused.
    with run_image(image, tmp_path / "v1", log, {}, ("function", "api")) as proc:
        assert proc.wait(timeout=60) == 64
    assert "runs one function against the cloud settings" in log.read_text()

    cloud = {"AUDIOCONV_DATABASE_URL": clean_postgres_url}
    with run_image(image, tmp_path / "v2", log, cloud, ("migrate",)) as proc:
        assert proc.wait(timeout=120) == 0, log.read_text()
    # The sweep job's command (scripts/deploy.sh's audioconv-sweep): sweeps and exits.
    with run_image(image, tmp_path / "v2", log, cloud, ("sweep",)) as proc:
        assert proc.wait(timeout=120) == 0, log.read_text()
    assert '{"conversions": 0, "notifications": 0, "reports": 0, "expired": 0}' in log.read_text()
    port = free_port()
    cloud |= {"PORT": str(port)}
    with run_image(image, tmp_path / "v2", log, cloud, ("function", "api")) as proc:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, log, timeout=60)
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        HttpApi(f"http://127.0.0.1:{port}", "jan")  # signs up and logs in: 201, 200


def test_the_image_runs_the_cloud_pull_worker(
    image: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    clean_postgres_url: str,
    pubsub_emulator: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The image's worker target (what worker.yaml runs on App Engine flexible, with no
    arguments: its command is `audioconv pull-worker`): it pulls its three
    subscriptions (conversions, direct uploads, report passes) on Google's Pub/Sub
    emulator, answers health checks, and handles a message (one for a task that does
    not exist is dropped, acked)."""
    # The same layers (built from the cache in seconds), another default command.
    build = subprocess.run(
        [str(ROOT / "scripts" / "build_image.sh"), WORKER_TAG, "worker"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert build.returncode == 0, f"worker image build failed:\n{build.stderr[-4000:]}"
    worker_config = json.loads(
        subprocess.run(
            [*PODMAN, "image", "inspect", "--format", "{{json .Config}}", WORKER_TAG],
            check=True, capture_output=True, text=True,
        ).stdout
    )  # fmt: skip
    assert worker_config["Entrypoint"] == image[1]["Entrypoint"]
    assert worker_config["Cmd"] == ["pull-worker"]
    worker = (image[0], worker_config)  # its file system is the service image's
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    publisher, subscriber = PublisherClient(), SubscriberClient()
    names = {}
    for key in ("requests", "uploads", "reports"):
        topic = publisher.topic_path("test-project", f"image-{key}")
        publisher.create_topic(name=topic)
        names[key] = subscriber.subscription_path("test-project", f"image-{key}-worker")
        subscriber.create_subscription(name=names[key], topic=topic, ack_deadline_seconds=10)
    port, log = free_port(), tmp_path / "image.log"
    env = {
        "PORT": str(port),
        "AUDIOCONV_DATABASE_URL": clean_postgres_url,
        "AUDIOCONV_SECRET_KEY": "image-pull-worker-secret-key-0123456789",
        "AUDIOCONV_EVENT_BACKEND": "pubsub", "AUDIOCONV_GCP_PROJECT": "test-project",
        "PUBSUB_EMULATOR_HOST": pubsub_emulator,
        "AUDIOCONV_CONVERSION_SUBSCRIPTION": "image-requests-worker",
        "AUDIOCONV_DIRECT_UPLOAD_SUBSCRIPTION": "image-uploads-worker",
        "AUDIOCONV_REPORT_SUBSCRIPTION": "image-reports-worker",  # the report pass's
    }  # fmt: skip
    with run_image(worker, tmp_path / "v", log, env) as proc:
        wait_http(f"http://127.0.0.1:{port}/readiness_check", proc, log, timeout=60)
        health = requests.get(f"http://127.0.0.1:{port}/liveness_check", timeout=10)
        assert (health.status_code, health.json()) == (200, {"status": "pulling"})
        publisher.publish(
            publisher.topic_path("test-project", "image-requests"), b'{"taskId":7,"revision":1}'
        ).result(timeout=30)
        deadline = time.monotonic() + 60
        while "task 7 no longer exists" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    publisher.stop()
    subscriber.close()
