"""Reading never waits for a writer: while a worker holds a task for update (on SQLite,
the database's one write lock), users still list, read, download and log in."""

from __future__ import annotations

from pathlib import Path

from audioconv.domain.model import Task
from audioconv.services import auth, direct_uploads, tasks
from audioconv.services.dependencies import Dependencies


def test_reads_go_on_while_a_task_is_held_for_update(deps: Dependencies, tmp_path: Path) -> None:
    user = auth.signup(deps, "rita", "rita@example.com", "password1", "password1")
    uid = user.id or 0
    token = auth.issue_token(deps, user)
    original = tmp_path / "held.wav"
    original.write_bytes(b"RIFF not really audio, never converted here")
    deps.blobs.put_file("uploads/r/held.wav", original, "application/octet-stream")
    with deps.uow() as uow:
        task = Task(user_id=uid, file_name="held.wav", input_format="wav",
                    output_format="mp3", input_key="uploads/r/held.wav")  # fmt: skip
        uow.tasks.add(task)
        uow.commit()
    task_id = task.id or 0
    # A log-in argon2 has not checked lately is counted first (a write, issue 18: guesses
    # are counted before argon2 runs); one it has checked is a read, like the rest.
    assert auth.login(deps, "rita", "password1").id == uid

    with deps.uow() as writer:  # a worker's heartbeat, say, still open
        assert writer.tasks.get(task_id, for_update=True) is not None
        assert [t.id for t in tasks.list_tasks(deps, uid, None, descending=False)] == [task_id]
        assert tasks.get_task(deps, uid, task_id).file_name == "held.wav"
        download = tasks.task_download(deps, uid, task_id, "original")
        assert (download.name, download.size) == ("held.wav", original.stat().st_size)
        assert tasks.file_download(deps, uid, "held.wav").key == "uploads/r/held.wav"
        assert direct_uploads.find(deps, uid, "a" * 32) is None
        assert auth.authenticate(deps, f"Bearer {token}") == uid
        assert auth.login(deps, "rita", "password1").id == uid
