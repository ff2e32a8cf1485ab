"""Expiry (issue 23), on SQLite and PostgreSQL: with AUDIOCONV_RETENTION_HOURS a task
shows when it goes (``expiresAt``), and the sweep deletes it then with every file it
has; without it nothing expires. Tasks made while the retention was off get their
time when it is turned on, and lose it when it is turned off."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from audioconv.entrypoints.api import create_app
from audioconv.services import recovery
from audioconv.services.dependencies import Dependencies
from tests.support.api import ApiClient
from tests.support.audio import make_audio
from tests.support.blobs import stored_files

HOURS = 2.5


@pytest.fixture
def song(tmp_path: Path) -> Path:
    return make_audio(tmp_path / "song.wav", 0.5)


def _retaining(deps: Dependencies, hours: float) -> Dependencies:
    return replace(deps, settings=deps.settings.model_copy(update={"retention_hours": hours}))


def _at(deps: Dependencies, when: datetime) -> Dependencies:
    return replace(deps, clock=lambda: when)


def _files(deps: Dependencies) -> set[Path]:
    return set(stored_files(deps))


def test_a_task_expires_with_all_its_files_and_says_when(deps: Dependencies, song: Path) -> None:
    kept = _retaining(deps, HOURS)
    now = deps.clock()
    client = create_app(_at(kept, now)).test_client()
    alice = ApiClient(client, "alice")
    first = alice.upload(song, "mp3").get_json()
    done = alice.wait(first["id"])
    assert done["status"] == "processed"
    made = datetime.fromisoformat(done["createdAt"])
    expires = datetime.fromisoformat(done["expiresAt"])
    assert expires == made + timedelta(hours=HOURS)
    before = _files(deps)
    assert len(before) >= 2  # the input and the output (a waveform when the report ran)
    an_hour_later = create_app(_at(kept, now + timedelta(hours=1))).test_client()
    with song.open("rb") as fh:
        later = an_hour_later.post(
            "/api/tasks", data={"fileName": (fh, "later.wav"), "newFormat": "wav"},
            headers=alice.headers, content_type="multipart/form-data",
        ).get_json()  # fmt: skip
    alice.wait(later["id"])
    with_both = _files(deps)
    # A second before: nothing goes.
    assert recovery.sweep(_at(kept, expires - timedelta(seconds=1))).expired == 0
    assert alice.get(f"/api/tasks/{first['id']}").status_code == 200
    # Past its time (and before the later task's), it goes with every file it had.
    result = recovery.sweep(_at(kept, expires + timedelta(seconds=1)))
    assert result.expired == 1 and result.as_json()["expired"] == 1
    assert alice.get(f"/api/tasks/{first['id']}").status_code == 404
    assert [t["id"] for t in alice.get("/api/tasks").get_json()] == [later["id"]]
    assert _files(deps) == with_both - before
    assert alice.get(f"/api/tasks/{later['id']}/converted").status_code == 200


def test_without_a_retention_nothing_expires(deps: Dependencies, song: Path) -> None:
    client = create_app(deps).test_client()
    alice = ApiClient(client, "alice")
    task = alice.upload(song, "mp3").get_json()
    assert task["expiresAt"] is None
    alice.wait(task["id"])
    files = _files(deps)
    far = deps.clock() + timedelta(days=3650)
    assert recovery.sweep(_at(deps, far)).expired == 0
    alice.relogin()  # (that sweep forgot the token, expired by then)
    assert alice.get(f"/api/tasks/{task['id']}").get_json()["expiresAt"] is None
    assert _files(deps) == files


def test_turning_the_retention_on_and_off_applies_to_tasks_made_before(
    deps: Dependencies, client: FlaskClient, song: Path
) -> None:
    alice = ApiClient(client, "alice")
    task = alice.upload(song, "mp3").get_json()
    alice.wait(task["id"])
    made = datetime.fromisoformat(task["createdAt"])
    kept = _retaining(deps, HOURS)
    assert recovery.sweep(_at(kept, made + timedelta(minutes=1))).expired == 0
    shown = alice.get(f"/api/tasks/{task['id']}").get_json()["expiresAt"]
    assert datetime.fromisoformat(shown) == made + timedelta(hours=HOURS)
    # Turned off again before its time: the task is kept, and says so.
    assert recovery.sweep(_at(deps, made + timedelta(hours=HOURS * 2))).expired == 0
    assert alice.get(f"/api/tasks/{task['id']}").get_json()["expiresAt"] is None
