"""The output size limit through the API: what cannot fit the worker's disk is refused
before anything is stored or converted, with what to choose instead."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from audioconv.services import conversion
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.support.api import ApiClient
from tests.support.audio import make_audio, probe
from tests.support.blobs import stored_files
from tests.support.direct_uploads import put_file, start_upload, upload_status

# 4 s of 48 kHz stereo: 768 kB as 16-bit WAV, about 160 kB as mp3 at its ceiling.
LIMIT = 500_000


@pytest.fixture
def ola(client: FlaskClient, deps: Dependencies) -> ApiClient:
    deps.settings.max_output_bytes = LIMIT
    return ApiClient(client, "ola")


@pytest.fixture
def song(tmp_path: Path) -> Path:
    return make_audio(tmp_path / "song.flac", 4.0, ("-c:a", "flac"), rate=48000)


def test_an_upload_whose_output_cannot_fit_is_refused_with_what_to_do(
    ola: ApiClient, deps: Dependencies, song: Path
) -> None:
    response = ola.upload(song, "wav")
    assert response.status_code == 413
    assert response.get_json()["message"] == (
        "a 4 s input as wav at 48000 Hz, 2 channels would be up to 841.2 kB; the limit for "
        "one output is 500.0 kB: choose a lossy format such as mp3 or opus, or a lower "
        "sample rate or fewer channels, or split the file"
    )
    assert ola.get("/api/tasks").get_json() == []
    assert stored_files(deps) == []  # nothing kept


def test_a_retarget_is_checked_too_and_smaller_options_fit(
    ola: ApiClient, song: Path, tmp_path: Path
) -> None:
    created = ola.upload(song, "mp3")
    assert created.status_code == 201, created.get_json()
    task = ola.wait(created.get_json()["id"])
    assert task["status"] == "processed", task

    refused = ola.client.put(f"/api/tasks/{task['id']}", json={"newFormat": "aiff"},
                             headers=ola.headers)  # fmt: skip
    assert refused.status_code == 413
    assert "aiff at 48000 Hz, 2 channels would be up to" in refused.get_json()["message"]
    after = ola.get(f"/api/tasks/{task['id']}").get_json()
    assert (after["status"], after["revision"], after["newFormat"]) == ("processed", 1, "mp3")
    assert ola.get(after["links"]["converted"]).status_code == 200  # the mp3 is still there

    smaller = {"newFormat": "wav", "sampleRate": 16000, "channels": 1}
    changed = ola.client.put(f"/api/tasks/{task['id']}", json=smaller, headers=ola.headers)
    assert changed.status_code == 200, changed.get_json()
    done = ola.wait(task["id"])
    assert (done["status"], done["revision"]) == ("processed", 2), done
    out = tmp_path / "out.wav"
    out.write_bytes(ola.get(done["links"]["converted"]).data)
    stream = probe(out)["streams"][0]
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == (
        "pcm_s16le", "16000", 1,
    )  # fmt: skip
    assert out.stat().st_size < LIMIT


def test_the_worker_checks_again_before_it_downloads(
    ola: ApiClient, deps: Dependencies, song: Path
) -> None:
    """The limit was lowered after the task was accepted: the task fails with the
    reason, and no ffmpeg runs."""
    deps.settings.max_output_bytes = 10 * LIMIT
    task = ola.wait(ola.upload(song, "wav").get_json()["id"])
    assert task["status"] == "processed", task
    deps.settings.max_output_bytes = LIMIT
    with deps.uow() as uow:  # a retarget that was accepted under the old limit
        stored = uow.tasks.get(task["id"], for_update=True)
        assert stored is not None
        stored.retarget("aiff", deps.clock(), None)
        uow.commit()
    conversion.convert(deps, TaskRef(task["id"], 2))
    failed = ola.get(f"/api/tasks/{task['id']}").get_json()
    assert (failed["status"], failed["revision"]) == ("failed", 2)
    assert failed["error"].startswith("a 4 s input as aiff at 48000 Hz, 2 channels")
    assert failed["error"].endswith("the limit for one output is 500.0 kB: choose a lossy "
                                    "format such as mp3 or opus, or a lower sample rate or "
                                    "fewer channels, or split the file")  # fmt: skip


def test_a_direct_upload_that_cannot_fit_ends_failed_with_the_reason(
    ola: ApiClient, deps: Dependencies, song: Path
) -> None:
    ticket = start_upload(ola, "song.flac", "wav")
    assert put_file(ola, ticket, song.read_bytes()).status_code in (200, 201, 204)
    task = upload_status(ola, ticket["uploadId"])
    assert task["status"] == "failed"
    assert "wav at 48000 Hz, 2 channels would be up to 841.2 kB" in task["error"]
    assert stored_files(deps) == []  # the upload is not kept
