"""SQLAlchemy engine, repositories and unit of work (SQLite, PostgreSQL, Cloud SQL)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Self

from sqlalchemy import (
    Connection,
    Delete,
    Engine,
    Select,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from audioconv.adapters import orm
from audioconv.adapters.pg8000_ping import tolerate_dropped_sockets
from audioconv.adapters.sql_batches import SqlBatchRepository
from audioconv.config import Settings
from audioconv.domain.account import ApiToken
from audioconv.domain.api_key import ApiKey
from audioconv.domain.errors import Conflict
from audioconv.domain.model import Task, TaskStatus, User, claim_prefix
from audioconv.domain.preset import Preset
from audioconv.domain.throttle import Throttle
from audioconv.ports import (
    ApiKeyRepository,
    BatchRepository,
    PresetRepository,
    QueuedMessageRepository,
    TaskRepository,
    ThrottleRepository,
    TokenRepository,
    UploadRepository,
    UserRepository,
)


def make_engine(settings: Settings) -> Engine:
    """The engine for the configured database; one pool per process."""
    if settings.cloud_sql_instance:
        from audioconv.adapters.cloudsql import cloud_sql_engine

        return cloud_sql_engine(settings)
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
    )
    if engine.dialect.driver == "pg8000":
        tolerate_dropped_sockets(engine)
    return engine


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, start transactions (see _sqlite_begin).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: a killed process
    # loses nothing committed (the OS holds it), a power cut may lose the last
    # commits but never corrupts the file; FULL cost an fsync, under the write lock,
    # per commit (three per upload).
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    """Take SQLite's write lock when a transaction starts, unless it only reads.

    SQLite ignores SELECT ... FOR UPDATE, and the sqlite3 module starts no
    transaction on a read, so two workers could both read a task as due and both
    claim it. BEGIN IMMEDIATE makes read-then-write units of work take turns
    (short ones: files never move inside a transaction). Work marked
    ``readonly`` (execution option) reads a WAL snapshot beside the writer.
    """
    readonly = conn.get_execution_options().get("readonly", False)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


@contextmanager
def _conflicts(session: Session) -> Iterator[None]:
    """A broken uniqueness rule (a concurrent writer got there first) is a Conflict."""
    try:
        yield
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("that already exists") from exc


class SqlUserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, user: User) -> None:
        self.session.add(user)
        with _conflicts(self.session):
            self.session.flush()

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        return self.session.get(User, user_id, with_for_update=for_update or None)

    def by_username(self, username: str) -> User | None:
        return self.session.scalars(select(User).filter_by(username=username)).first()

    def by_email(self, email: str) -> User | None:
        return self.session.scalars(select(User).filter_by(email=email)).first()

    def delete(self, user: User) -> None:
        self.session.delete(user)


# Every log-in runs the first two, every request the third: built once (building them
# cost as much CPU as running them).
_ADD_TOKEN = insert(orm.api_tokens)
_TOKEN_OWNER = select(orm.api_tokens.c.user_id).where(orm.api_tokens.c.id == bindparam("token_id"))


def _prune_tokens_statement() -> Delete:
    """A user's expired tokens and those beyond the newest ``keep``."""
    t = orm.api_tokens.c
    newest = select(t.id).where(t.user_id == bindparam("user_id"), t.expires_at > bindparam("now"))
    kept = newest.order_by(t.issued_at.desc(), t.id).limit(bindparam("keep")).scalar_subquery()
    return delete(orm.api_tokens).where(t.user_id == bindparam("user_id"), t.id.not_in(kept))


_PRUNE_TOKENS = _prune_tokens_statement()


class SqlTokenRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, token: ApiToken) -> None:
        # A plain INSERT: nothing reads the record back in this session, and the ORM's
        # flush cost a log-in more CPU than the INSERT itself.
        row = {"id": token.id, "user_id": token.user_id,
               "issued_at": token.issued_at, "expires_at": token.expires_at}  # fmt: skip
        with _conflicts(self.session):
            self.session.execute(_ADD_TOKEN, row)

    def owner(self, token_id: str) -> int | None:
        return self.session.scalar(_TOKEN_OWNER, {"token_id": token_id})

    def revoke(self, token_id: str) -> int:
        t = orm.api_tokens.c
        return _count(self.session.execute(delete(orm.api_tokens).where(t.id == token_id)))

    def revoke_all(self, user_id: int, keep: str | None = None) -> int:
        t = orm.api_tokens.c
        statement = delete(orm.api_tokens).where(t.user_id == user_id)
        if keep is not None:
            statement = statement.where(t.id != keep)
        return _count(self.session.execute(statement))

    def prune(self, user_id: int, now: datetime, keep: int) -> None:
        self.session.execute(_PRUNE_TOKENS, {"user_id": user_id, "now": now, "keep": keep})

    def expire(self, now: datetime) -> int:
        t = orm.api_tokens.c
        return _count(self.session.execute(delete(orm.api_tokens).where(t.expires_at <= now)))


class SqlApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, key: ApiKey) -> None:
        self.session.add(key)
        with _conflicts(self.session):
            self.session.flush()

    def by_hash(self, secret_hash: str) -> ApiKey | None:
        return self.session.scalars(select(ApiKey).filter_by(secret_hash=secret_hash)).first()

    def get(self, key_id: int) -> ApiKey | None:
        return self.session.get(ApiKey, key_id)

    def for_user(self, user_id: int) -> Sequence[ApiKey]:
        query = select(ApiKey).filter_by(user_id=user_id).order_by(orm.api_keys.c.id)
        return self.session.scalars(query).all()

    def delete(self, key: ApiKey) -> None:
        self.session.delete(key)

    def touch(self, key_id: int, now: datetime, older_than: datetime) -> None:
        k = orm.api_keys.c
        self.session.execute(
            update(orm.api_keys)
            .where(k.id == key_id)
            .where(or_(k.last_used_at.is_(None), k.last_used_at < older_than))
            .values(last_used_at=now)
        )


class SqlPresetRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, preset: Preset) -> None:
        self.session.add(preset)
        with _conflicts(self.session):
            self.session.flush()

    def get(self, preset_id: int, *, for_update: bool = False) -> Preset | None:
        return self.session.get(Preset, preset_id, with_for_update=for_update or None)

    def by_name(self, user_id: int, name: str) -> Preset | None:
        query = select(Preset).filter_by(user_id=user_id, name=name)
        return self.session.scalars(query).first()

    def for_user(self, user_id: int) -> Sequence[Preset]:
        p = orm.presets.c
        query = select(Preset).filter_by(user_id=user_id).order_by(p.name, p.id)
        return self.session.scalars(query).all()

    def delete(self, preset: Preset) -> None:
        self.session.delete(preset)


class SqlQueuedMessageRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def discard(self, task_ids: Sequence[int], user_id: int) -> int:
        data = orm.messages.c.data
        about = data["userId"].as_integer() == user_id
        if task_ids:
            about = or_(about, data["taskId"].as_integer().in_(list(task_ids)))
        return _count(self.session.execute(delete(orm.messages).where(about)))


def _count(result: Any) -> int:
    """Rows a DELETE removed."""
    return int(result.rowcount or 0)


def _usage_statement() -> Select[Any]:
    t = orm.tasks.c
    in_flight = func.count().filter(t.status.in_((TaskStatus.UPLOADED, TaskStatus.PROCESSING)))
    stored = t.input_bytes + t.output_bytes + t.kept_output_bytes + t.reserved_bytes
    return select(in_flight, func.coalesce(func.sum(stored), 0)).where(
        t.user_id == bindparam("user_id")
    )


# A user's tasks in flight and bytes stored, checked on every upload: built once (building
# the expression cost as much CPU as running it).
_USAGE = _usage_statement()


class SqlTaskRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, task: Task) -> None:
        self.session.add(task)
        with _conflicts(self.session):
            self.session.flush()

    def get(self, task_id: int, *, for_update: bool = False) -> Task | None:
        return self.session.get(Task, task_id, with_for_update=for_update or None)

    def for_user(self, user_id: int, limit: int | None, descending: bool) -> Sequence[Task]:
        col = orm.tasks.c.id
        query = select(Task).filter_by(user_id=user_id).order_by(col.desc() if descending else col)
        if limit is not None:
            query = query.limit(limit)
        return self.session.scalars(query).all()

    def by_file_name(self, user_id: int, file_name: str) -> Task | None:
        query = select(Task).filter_by(user_id=user_id).order_by(orm.tasks.c.id.desc())
        # Converted names are derived, so match the stem in SQL and the full name here.
        stem = file_name.rsplit(".", 1)[0]
        query = query.where(
            or_(
                orm.tasks.c.file_name == file_name,
                orm.tasks.c.file_name.startswith(stem, autoescape=True),
            )
        )
        for task in self.session.scalars(query):
            if file_name in (task.file_name, task.output_name):
                return task
        return None

    def by_input_prefix(self, prefix: str) -> Task | None:
        column = orm.tasks.c.input_key
        query = select(Task).where(column.startswith(prefix, autoescape=True)).order_by(column)
        return self.session.scalars(query.limit(1)).first()

    def delete(self, task: Task) -> None:
        self.session.delete(task)

    def stored_keys(self) -> set[str]:
        t = orm.tasks.c
        rows = self.session.execute(
            select(t.input_key, t.output_key, t.waveform_key, t.kept_output_key)
        )
        return {key for row in rows for key in row if key}

    def usage(self, user_id: int) -> tuple[int, int]:
        row = self.session.execute(_USAGE, {"user_id": user_id}).one()
        return int(row[0]), int(row[1])

    def unfinished(self) -> Sequence[Task]:
        states = (TaskStatus.UPLOADED, TaskStatus.PROCESSING)
        return self.session.scalars(
            select(Task).where(orm.tasks.c.status.in_(states)).order_by(orm.tasks.c.id)
        ).all()

    def claimed_by(self, claimant: str) -> Sequence[Task]:
        t = orm.tasks.c
        return self.session.scalars(
            select(Task)
            .where(t.status == TaskStatus.PROCESSING)
            .where(t.claim_token.startswith(claim_prefix(claimant), autoescape=True))
            .order_by(t.id)
            .with_for_update()
        ).all()

    def unnotified(self) -> Sequence[Task]:
        states = (TaskStatus.PROCESSED, TaskStatus.FAILED)
        return self.session.scalars(
            select(Task)
            .where(orm.tasks.c.status.in_(states))
            .where(orm.tasks.c.notified_revision < orm.tasks.c.revision)
            .order_by(orm.tasks.c.id)
        ).all()

    def reports_due(self) -> Sequence[Task]:
        t = orm.tasks.c
        return self.session.scalars(
            select(Task)
            .where(t.report_due.is_(True), t.status == TaskStatus.PROCESSED)
            .order_by(t.id)
        ).all()

    def album_gains_due(self) -> Sequence[Task]:
        t = orm.tasks.c
        return self.session.scalars(
            select(Task)
            .where(t.album_gain_due.is_(True), t.status == TaskStatus.PROCESSED)
            .order_by(t.id)
        ).all()

    def conversions_by_owner(self) -> tuple[dict[int, int], set[int]]:
        t = orm.tasks.c
        states = (TaskStatus.UPLOADED, TaskStatus.PROCESSING)
        rows = self.session.execute(
            select(t.user_id, t.status, func.count())
            .where(t.status.in_(states))
            .group_by(t.user_id, t.status)
        ).all()
        running = {user: count for user, status, count in rows if status == TaskStatus.PROCESSING}
        return running, {user for user, status, _ in rows if status == TaskStatus.UPLOADED}

    def webhooks_due(self, before: datetime) -> Sequence[Task]:
        t = orm.tasks.c
        states = (TaskStatus.PROCESSED, TaskStatus.FAILED)
        return self.session.scalars(
            select(Task)
            .where(t.webhook_due_at.is_not(None), t.webhook_due_at <= before)
            .where(t.status.in_(states))
            .order_by(t.id)
        ).all()

    def expired(self, now: datetime, limit: int) -> Sequence[Task]:
        t = orm.tasks.c
        query = select(Task).where(t.expires_at <= now).order_by(t.id).limit(limit)
        return self.session.scalars(query).all()

    def without_expiry(self, limit: int) -> Sequence[Task]:
        t = orm.tasks.c
        query = select(Task).where(t.expires_at.is_(None)).order_by(t.id).limit(limit)
        return self.session.scalars(query.with_for_update()).all()

    def clear_expiry(self) -> int:
        t = orm.tasks.c
        statement = update(orm.tasks).where(t.expires_at.is_not(None)).values(expires_at=None)
        return _count(self.session.execute(statement))


class SqlThrottleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key: str) -> Throttle | None:
        return self.session.get(Throttle, key, with_for_update=True)

    def many(self, keys: Sequence[str]) -> Sequence[Throttle]:
        return self.session.scalars(select(Throttle).where(orm.throttles.c.key.in_(keys))).all()

    def add(self, throttle: Throttle) -> None:
        self.session.add(throttle)
        with _conflicts(self.session):
            self.session.flush()

    def clear(self, keys: Sequence[str]) -> None:
        self.session.execute(delete(orm.throttles).where(orm.throttles.c.key.in_(keys)))

    def expire(self, quiet_since: datetime, now: datetime) -> int:
        t = orm.throttles.c
        stale = delete(orm.throttles).where(
            t.window_started_at < quiet_since,
            or_(t.blocked_until.is_(None), t.blocked_until <= now),
        )
        return int(self.session.execute(stale).rowcount or 0)  # type: ignore[attr-defined]


class SqlUploadRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def use(self, upload_id: str, user_id: int, now: datetime) -> None:
        with _conflicts(self.session):
            self.session.execute(
                insert(orm.used_uploads).values(upload_id=upload_id, user_id=user_id, used_at=now)
            )

    def used(self, upload_id: str) -> bool:
        column = orm.used_uploads.c.upload_id
        return self.session.scalar(select(column).where(column == upload_id)) is not None

    def forget(self, upload_id: str) -> None:
        column = orm.used_uploads.c.upload_id
        self.session.execute(delete(orm.used_uploads).where(column == upload_id))

    def set_webhook(
        self, upload_id: str, url: str, now: datetime, user_id: int | None = None
    ) -> None:
        self.session.execute(
            insert(orm.upload_webhooks).values(
                upload_id=upload_id, url=url, created_at=now, user_id=user_id
            )
        )

    def webhook(self, upload_id: str) -> str | None:
        table = orm.upload_webhooks
        return self.session.scalar(select(table.c.url).where(table.c.upload_id == upload_id))

    def forget_user(self, user_id: int) -> int:
        used = orm.used_uploads
        self.session.execute(delete(used).where(used.c.user_id == user_id))
        hooks = orm.upload_webhooks
        return _count(self.session.execute(delete(hooks).where(hooks.c.user_id == user_id)))


class SqlUnitOfWork:
    """A session per unit of work: never shared between threads or events."""

    users: UserRepository
    tasks: TaskRepository
    throttles: ThrottleRepository
    uploads: UploadRepository
    batches: BatchRepository
    tokens: TokenRepository
    queue: QueuedMessageRepository
    api_keys: ApiKeyRepository
    presets: PresetRepository

    def __init__(self, session_factory: sessionmaker[Session], readonly: bool = False) -> None:
        self.session_factory = session_factory
        self.readonly = readonly

    def __enter__(self) -> Self:
        self.session = self.session_factory()
        if self.readonly:  # begin with the option set: SQLite then takes no write lock
            self.session.connection(execution_options={"readonly": True})
        self.users = SqlUserRepository(self.session)
        self.tasks = SqlTaskRepository(self.session)
        self.throttles = SqlThrottleRepository(self.session)
        self.uploads = SqlUploadRepository(self.session)
        self.batches = SqlBatchRepository(self.session)
        self.tokens = SqlTokenRepository(self.session)
        self.queue = SqlQueuedMessageRepository(self.session)
        self.api_keys = SqlApiKeyRepository(self.session)
        self.presets = SqlPresetRepository(self.session)
        return self

    def __exit__(self, *exc: object) -> None:
        # close() rolls back what was not committed but, unlike rollback(), leaves
        # loaded objects readable after the unit of work.
        self.session.close()

    def commit(self) -> None:
        assert not self.readonly, "a read-only unit of work cannot commit"
        with _conflicts(self.session):
            self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    orm.start_mappers()
    return sessionmaker(bind=engine, expire_on_commit=False)
