"""The SQLAlchemy repositories and unit of work, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import create_engine, inspect

from audioconv.adapters.database import SqlUnitOfWork, session_factory
from audioconv.domain.errors import Conflict
from audioconv.domain.media import Loudness, Picture, Probe
from audioconv.domain.model import Task, TaskStatus, User, utcnow
from audioconv.domain.options import ConversionOptions
from audioconv.services.dependencies import Dependencies


@pytest.fixture
def uow_factory(database_url: str):  # type: ignore[no-untyped-def]
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    yield lambda: SqlUnitOfWork(sessions)
    engine.dispose()


def _user(uow: SqlUnitOfWork, name: str) -> int:
    user = User(username=name, email=f"{name}@x.org", password_hash="h")
    uow.users.add(user)
    assert user.id is not None
    return user.id


def _task(uid: int, name: str = "a.mp3", **kw: object) -> Task:
    return Task(user_id=uid, file_name=name, input_format="mp3", output_format="wav",
                input_key=f"uploads/{uid}/{name}", **kw)  # type: ignore[arg-type]  # fmt: skip


def test_migrations_create_the_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"users", "tasks", "alembic_version"} <= tables


def test_models_match_the_migrations(database_url: str) -> None:
    """The tables the code maps are exactly what the migrations built."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from audioconv.adapters.orm import metadata

    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_round_trip_and_rollback(uow_factory) -> None:  # type: ignore[no-untyped-def]
    with uow_factory() as uow:
        uid = _user(uow, "u1")
        task = _task(uid, input_probe=PROBE)
        uow.tasks.add(task)
        uow.commit()
    with uow_factory() as uow:
        _user(uow, "never-committed")
    with uow_factory() as uow:
        assert uow.users.by_username("never-committed") is None
        loaded = uow.tasks.get(task.id or 0)
        assert loaded is not None
        assert loaded.status is TaskStatus.UPLOADED
        assert loaded.input_probe == PROBE
        assert loaded.user_id == uid


PROBE = Probe("mp3", "mp3", "mp3", 1.5, 128000, 44100, 2, {"title": "Song"},
              picture=Picture("png", 32, 16), loudness=Loudness(-14.0, 6.0, -1.0))  # fmt: skip
# The JSON columns of one task as stored by the code before Task held value objects.
STORED = {
    "input_probe": {
        "format": "mp3", "codec": "mp3", "duration": 1.5, "bitrate": 128000,
        "sampleRate": 44100, "channels": 2, "loudness": {"integrated": -14.0, "range": 6.0,
        "truePeak": -1.0}, "loudnessReason": None, "bitDepth": None, "sampleFormat": None,
        "demuxer": "mp3", "tags": {"title": "Song"}, "layout": None,
        "picture": ["png", 32, 16],
    },
    "options": {"bitrate": 192, "fadeIn": 0.5},
    "webhook_deliveries": [{
        "eventId": "evt_1_1", "attempt": 1, "at": "2026-01-01T12:00:00+00:00",
        "url": "https://example.com/hook", "statusCode": 503, "error": None,
        "result": "retrying", "nextAttemptAt": "2026-01-01T12:00:10+00:00",
    }],
}  # fmt: skip
_json_columns = sa.table("tasks", sa.column("id"), *(sa.column(name, sa.JSON) for name in STORED))


def test_value_objects_are_stored_as_the_json_rows_always_held(database_url: str) -> None:
    """Rows written before Task held value objects read back; what is written now is
    the same JSON (no migration)."""
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    with SqlUnitOfWork(sessions) as uow:
        task = _task(_user(uow, "json"))
        uow.tasks.add(task)
        uow.commit()
    with engine.begin() as conn:
        conn.execute(_json_columns.update().where(_json_columns.c.id == task.id).values(STORED))
    with SqlUnitOfWork(sessions) as uow:
        loaded = uow.tasks.get(task.id or 0, for_update=True)
        assert loaded is not None and loaded.input_probe == PROBE
        assert loaded.options == ConversionOptions(bitrate=192, fade_in=0.5)
        (attempt,) = loaded.webhook_deliveries
        assert (attempt.status_code, attempt.result, attempt.at) == (
            503, "retrying", datetime(2026, 1, 1, 12, tzinfo=UTC))  # fmt: skip
        # Written by the model, on a new row: the very same JSON.
        again = _task(loaded.user_id, "again.mp3", input_probe=loaded.input_probe,
                      options=loaded.options,
                      webhook_deliveries=loaded.webhook_deliveries)  # fmt: skip
        uow.tasks.add(again)
        uow.commit()
    with engine.connect() as conn:
        row = conn.execute(sa.select(_json_columns).where(_json_columns.c.id == again.id)).one()
    assert {name: getattr(row, name) for name in STORED} == STORED
    engine.dispose()


def test_unique_username_and_email(uow_factory) -> None:  # type: ignore[no-untyped-def]
    with uow_factory() as uow:
        _user(uow, "same")
        uow.commit()
    with uow_factory() as uow, pytest.raises(Conflict):
        uow.users.add(User(username="same", email="other@x.org", password_hash="h"))
        uow.commit()


def test_queries(uow_factory) -> None:  # type: ignore[no-untyped-def]
    with uow_factory() as uow:
        a, b = _user(uow, "a"), _user(uow, "b")
        t1, t2, t3 = _task(a, "one.mp3"), _task(a, "100%_two.mp3"), _task(b, "one.mp3")
        for t in (t1, t2, t3):
            uow.tasks.add(t)
        t2.status = TaskStatus.PROCESSED
        t2.output_key = "outputs/x"
        uow.commit()
    with uow_factory() as uow:
        assert [t.id for t in uow.tasks.for_user(a, None, False)] == [t1.id, t2.id]
        assert [t.id for t in uow.tasks.for_user(a, 1, True)] == [t2.id]
        found = uow.tasks.by_file_name(a, "100%_two.wav")
        assert found is not None and found.id == t2.id
        assert uow.tasks.by_file_name(a, "100%_two.flac") is None
        one = uow.tasks.by_file_name(b, "one.mp3")
        assert one is not None and one.id == t3.id
        assert {t.id for t in uow.tasks.unfinished()} == {t1.id, t3.id}
        assert [t.id for t in uow.tasks.unnotified()] == [t2.id]
        # Fair share: nobody converts yet; a and b each have a request waiting.
        assert uow.tasks.conversions_by_owner() == ({}, {a, b})
        converting = uow.tasks.get(t3.id)
        assert converting is not None
        converting.status = TaskStatus.PROCESSING
        uow.commit()
    with uow_factory() as uow:
        assert uow.tasks.conversions_by_owner() == ({b: 1}, {a})


def test_lease_times_survive_the_database(uow_factory) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    with uow_factory() as uow:
        task = _task(_user(uow, "c"))
        uow.tasks.add(task)
        task.claim(1, now, timedelta(seconds=30))
        uow.commit()
    with uow_factory() as uow:
        loaded = uow.tasks.get(task.id or 0, for_update=True)
        assert loaded is not None
        assert not loaded.is_due(now + timedelta(seconds=29))
        assert loaded.is_due(now + timedelta(seconds=31))


def test_concurrent_claims_let_exactly_one_worker_run(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two deliveries of one request at once: the database lets only one claim the task."""
    import contextlib
    import threading

    from audioconv.adapters.database import make_engine
    from audioconv.config import Settings
    from audioconv.domain.model import ClaimOutcome

    engine = make_engine(Settings(database_url=database_url, data_dir=tmp_path))
    sessions = session_factory(engine)
    with SqlUnitOfWork(sessions) as uow:
        task = _task(_user(uow, "racer"))
        uow.tasks.add(task)
        uow.commit()
    start, have_read = threading.Barrier(4), threading.Barrier(4)
    results: list[ClaimOutcome] = []

    def deliver() -> None:
        start.wait()
        with SqlUnitOfWork(sessions) as uow:
            mine = uow.tasks.get(task.id or 0, for_update=True)
            assert mine is not None
            # Without a lock every worker would now hold a "due" copy: make them all try.
            with contextlib.suppress(threading.BrokenBarrierError):
                have_read.wait(timeout=1)
            results.append(mine.claim(1, utcnow(), timedelta(seconds=60)))
            uow.commit()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with SqlUnitOfWork(sessions) as uow:
        final = uow.tasks.get(task.id or 0)
    engine.dispose()
    assert sorted(r.value for r in results) == ["busy", "busy", "busy", "run"]
    assert final is not None and final.attempts == 1


def test_read_only_work_runs_while_a_writer_holds_the_lock(deps: Dependencies) -> None:
    """On SQLite every other unit of work takes the write lock at its start; read-only
    ones read a snapshot beside the writer instead of waiting for it."""
    with deps.uow() as writer:
        writer.users.add(User(username="w", email="w@example.com", password_hash="x"))
        with deps.uow(readonly=True) as reader:  # would wait 30 s, then fail, if it locked
            assert reader.users.by_username("w") is None  # not committed yet
        writer.commit()
    with deps.uow(readonly=True) as reader:
        assert reader.users.by_username("w") is not None
        with pytest.raises(AssertionError):
            reader.commit()


def test_migration_0006_adds_and_removes_the_waveform_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alembic import command

    from audioconv import migrate

    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    cfg = migrate.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        assert "waveform_key" in {c["name"] for c in inspect(conn).get_columns("tasks")}
        command.downgrade(cfg, "0005")
        assert "waveform_key" not in {c["name"] for c in inspect(conn).get_columns("tasks")}
    engine.dispose()


def test_migration_0009_adds_report_due_and_keeps_ids_unique(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The column, false for the tasks already there; SQLite's rebuild of the table keeps
    AUTOINCREMENT (ids never reused), both ways."""
    from alembic import command

    from audioconv import migrate

    def tasks_sql(conn) -> str:  # type: ignore[no-untyped-def]
        row = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'tasks'").one()
        return str(row[0])

    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    cfg = migrate.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0008")
        conn.exec_driver_sql(
            "INSERT INTO users (username, email, password_hash, created_at) "
            "VALUES ('u', 'u@example.com', 'x', '2026-01-01')"
        )
        conn.exec_driver_sql(
            "INSERT INTO tasks (user_id, file_name, input_format, output_format, input_key, "
            "status, revision, progress, attempts, notified_revision, created_at, updated_at) "
            "VALUES (1, 'a.mp3', 'mp3', 'ogg', 'k', 'processed', 1, 100, 1, 1, "
            "'2026-01-01', '2026-01-01')"
        )
        command.upgrade(cfg, "0009")
        assert conn.exec_driver_sql("SELECT report_due FROM tasks").scalar_one() in (0, False)
        assert "AUTOINCREMENT" in tasks_sql(conn)
        command.downgrade(cfg, "0008")
        assert "report_due" not in {c["name"] for c in inspect(conn).get_columns("tasks")}
        assert "AUTOINCREMENT" in tasks_sql(conn)
    engine.dispose()


def test_migration_0012_leaves_existing_accounts_unverified_and_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Accounts made before 0012 start unverified (their addresses were never checked);
    the token records' table and the new columns come and go, ids stay unique."""
    from alembic import command

    from audioconv import migrate

    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    cfg = migrate.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0010")
        conn.exec_driver_sql(
            "INSERT INTO users (username, email, password_hash, created_at) "
            "VALUES ('u', 'u@example.com', 'x', '2026-01-01')"
        )
        command.upgrade(cfg, "0012")
        assert conn.exec_driver_sql("SELECT email_verified_at FROM users").scalar_one() is None
        assert "api_tokens" in inspect(conn).get_table_names()
        assert "notified_at" in {c["name"] for c in inspect(conn).get_columns("tasks")}
        sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'users'").one()
        assert "AUTOINCREMENT" in str(sql[0])
        command.downgrade(cfg, "0010")
        assert "api_tokens" not in inspect(conn).get_table_names()
        assert "email_verified_at" not in {c["name"] for c in inspect(conn).get_columns("users")}
        assert "user_id" not in {c["name"] for c in inspect(conn).get_columns("upload_webhooks")}
        assert conn.exec_driver_sql("SELECT username FROM users").scalar_one() == "u"
    engine.dispose()
