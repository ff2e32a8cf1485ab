"""URL import (``sourceUrl``): the worker fetches the file from a server the test runs.

The origin listens on 127.0.0.2, the one network the guard is told to allow
(``import_allow_networks``); everything else on loopback stays refused, so a redirect
to 127.0.0.1 (where a second server would hand out the file) proves that each hop is
checked again.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from audioconv.client.convert import Job, import_all
from audioconv.client.progress import Progress
from audioconv.config import Settings
from audioconv.domain.model import TaskStatus
from audioconv.entrypoints.api import create_app
from audioconv.ports import Fetched
from audioconv.services import conversion, url_import
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.support.api import ApiClient, wait_for
from tests.support.audio import decoded_duration, make_audio, probe
from tests.support.origin import Origin, serve

ALLOWED = "127.0.0.2"
LIMIT = 2 * 1024 * 1024
TIMEOUT = 2.0
# Looks like nothing the log redactor knows: only our own care keeps it out of logs.
SECRET = "s3cr3tvalue1234"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "import_allow_networks": f"{ALLOWED}/32", "import_timeout_seconds": TIMEOUT,
        "max_upload_bytes": LIMIT})  # fmt: skip


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_audio(tmp_path_factory.mktemp("song") / "song.wav", 1.0)


@pytest.fixture(scope="module")
def elsewhere(song: Path) -> Iterator[Origin]:
    """The file on 127.0.0.1: loopback, which the guard refuses."""
    with serve(Origin(song.read_bytes()), "127.0.0.1") as origin:
        yield origin


@pytest.fixture(scope="module")
def origin(song: Path, elsewhere: Origin) -> Iterator[Origin]:
    with serve(Origin(song.read_bytes(), f"{elsewhere.url}/song.wav"), ALLOWED) as origin:
        yield origin


@pytest.fixture
def uma(client: FlaskClient) -> ApiClient:
    return ApiClient(client, "uma")


def _import(api: ApiClient, url: Any, fmt: str = "mp3", **fields: Any) -> Any:
    return api.client.post(
        "/api/tasks", json={"sourceUrl": url, "newFormat": fmt, **fields}, headers=api.headers
    )


def _done(api: ApiClient, task: dict[str, Any]) -> dict[str, Any]:
    return wait_for(lambda: api.get(f"/api/tasks/{task['id']}").get_json(), timeout=30)


def test_a_url_becomes_a_converted_task(
    uma: ApiClient, origin: Origin, song: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"{origin.url}/download?export={SECRET}"
    response = _import(uma, url, "flac")
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    # Recorded before anything is fetched: the worker fetches, not the request.
    assert created["status"] == "downloading" and created["input"] is None
    assert created["sourceUrl"] == f"{origin.url}/download?..."
    task = _done(uma, created)
    assert task["status"] == "processed", task
    # The server's name (Content-Disposition, RFC 5987) wins over the URL's path.
    assert (task["fileName"], task["outputFileName"]) == ("Réal.wav", "Réal.flac")
    assert task["input"]["codec"] == "pcm_s16le"
    # The signed query string reached the origin whole...
    assert f"/download?export={SECRET}" in origin.requests
    out = tmp_path / "out.flac"
    out.write_bytes(uma.get(task["links"]["converted"]).data)
    assert probe(out)["streams"][0]["codec_name"] == "flac"
    assert abs(decoded_duration(out) - decoded_duration(song)) < 0.05
    original = uma.get(task["links"]["original"])
    assert original.status_code == 200 and original.data == song.read_bytes()
    # ... and was never logged, nor shown.
    assert SECRET not in caplog.text
    assert SECRET not in str(uma.get("/api/tasks").get_json())


def test_fetches_that_fail_fail_their_task_with_the_reason(
    uma: ApiClient, origin: Origin, elsewhere: Origin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cases = {
        "missing.wav": "answered 404",
        "huge.wav": f"larger than the upload limit of {LIMIT} bytes",
        "claims-huge.wav": f"larger than the upload limit of {LIMIT} bytes",
        "liar.wav": "announced",
        "slow.wav": f"took longer than {TIMEOUT:g} s",
        "away": "a redirect went to http://127.0.0.1:",
    }
    made = {}
    for path in cases:
        response = _import(uma, f"{origin.url}/{path}?export={SECRET}", "mp3")
        assert response.status_code == 201, response.get_json()
        made[path] = response.get_json()
    for path, reason in cases.items():
        task = _done(uma, made[path])
        assert task["status"] == "failed", (path, task)
        assert task["error"].startswith("could not fetch the file: "), task["error"]
        assert reason in task["error"], (path, task["error"])
        assert SECRET not in task["error"]
    assert "loopback" in _done(uma, made["away"])["error"]
    assert elsewhere.requests == []  # the redirect's target was never asked
    # Nothing of a refused fetch is stored, nor counted against the quota.
    assert all(t["input"] is None for t in uma.get("/api/tasks").get_json())
    assert SECRET not in caplog.text


def test_urls_refused_in_the_request(uma: ApiClient, origin: Origin) -> None:
    refused = {
        "http://127.0.0.1/song.wav": "loopback",
        "http://169.254.169.254/latest/meta-data": "link-local",
        "http://10.1.2.3/a.wav": "private",
        "ftp://example.org/a.wav": "http:// or https://",
        "http://user:pw@" + ALLOWED + "/a.wav": "user name or password",
        "not a url": "spaces",
        "": "missing field 'sourceUrl'",
        "https://no-such-host.invalid/a.wav": "could not resolve",
        5: "http(s) URL",
    }
    for url, reason in refused.items():
        response = _import(uma, url)
        assert response.status_code == 400, (url, response.get_json())
        assert reason in response.get_json()["message"], (url, response.get_json())
    response = _import(uma, f"{origin.url}/song.wav", "nope")
    assert response.status_code == 400 and "unknown format" in response.get_json()["message"]
    response = _import(uma, f"{origin.url}/song.wav", "mp3", bitrate="7k")
    assert response.status_code == 400
    assert uma.get("/api/tasks").get_json() == []


def test_a_list_of_urls_is_a_batch(uma: ApiClient, origin: Origin) -> None:
    response = _import(uma, [f"{origin.url}/moved", f"{origin.url}/song.wav"], "opus")
    assert response.status_code == 201, response.get_json()
    batch = response.get_json()
    assert [t["fileName"] for t in batch["tasks"]] == ["moved", "song.wav"]
    for created in batch["tasks"]:
        task = _done(uma, created)
        assert task["status"] == "processed" and task["batchId"] == batch["id"], task
    # One more into the same batch, by its id.
    more = _import(uma, f"{origin.url}/song.wav", "opus", batch=batch["id"]).get_json()
    assert more["batchId"] == batch["id"]
    _done(uma, more)


class _Crash(BaseException):
    """The worker process dying mid-fetch (nothing of ours catches it)."""


@dataclasses.dataclass
class _DiesMidFetch:
    fetcher: Any

    def check(self, url: str) -> None:
        self.fetcher.check(url)

    def fetch(self, url: str, dest: Path, max_bytes: int, on_progress: Any = None) -> Fetched:
        self.fetcher.fetch(url, dest, max_bytes)
        raise _Crash


class _NoBus:
    def publish(self, topic: str, data: dict[str, Any], attributes: dict[str, str]) -> str:
        return "dropped"

    def close(self) -> None:
        pass


def test_a_worker_dying_mid_fetch_leaves_the_task_due(
    deps: Dependencies, uma: ApiClient, origin: Origin
) -> None:
    quiet = dataclasses.replace(deps, bus=_NoBus())  # no worker picks it up by itself
    task = url_import.import_url(quiet, uma.user_id, f"{origin.url}/song.wav", "mp3")
    assert task.id is not None
    ref = TaskRef(task.id, task.revision)
    dying = dataclasses.replace(quiet, fetcher=_DiesMidFetch(deps.fetcher))
    with pytest.raises(_Crash):
        conversion.convert(dying, ref)
    with deps.uow(readonly=True) as uow:
        left = uow.tasks.get(task.id)
    assert left is not None and left.status is TaskStatus.PROCESSING and left.awaits_fetch
    later = deps.clock() + timedelta(seconds=deps.settings.lease_seconds + 1)
    assert not left.is_due(deps.clock()) and left.is_due(later)  # the sweep's test
    conversion.convert(dataclasses.replace(quiet, clock=lambda: later), ref)
    done = uma.get(f"/api/tasks/{task.id}").get_json()
    assert done["status"] == "processed" and done["input"]["codec"] == "pcm_s16le", done


@pytest.fixture
def live(deps: Dependencies) -> Iterator[str]:
    """The API over real HTTP (threads), in this process."""
    server = make_server("127.0.0.1", 0, create_app(deps), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_cli_converts_a_url(live: str, uma: ApiClient, origin: Origin, tmp_path: Path) -> None:
    """``audioconv convert URL --to FORMAT``: the server fetches it, the CLI downloads
    the result; the printed lines show no query string."""
    token = uma.headers["Authorization"].split(" ", 1)[1]
    out = io.StringIO()
    job = Job("opus", {"bitrate": "64"}, tmp_path, force=False)
    urls = [f"{origin.url}/song.wav?export={SECRET}", f"{origin.url}/missing.wav"]
    done, failed = import_all(live, token, urls, job, 2, Progress(out, tty=False))
    assert done.error is None and done.output == tmp_path / "song.opus", done
    assert probe(done.output)["streams"][0]["codec_name"] == "opus"
    assert failed.error is not None and "answered 404" in failed.error
    assert (
        SECRET not in out.getvalue() and f"{origin.url}/song.wav?...: converted" in out.getvalue()
    )
