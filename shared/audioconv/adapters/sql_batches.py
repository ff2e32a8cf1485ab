"""The batches repository on SQLAlchemy (a batch's tasks, counts per status)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audioconv.adapters import orm
from audioconv.domain.batch import Batch
from audioconv.domain.model import Task, TaskStatus


class SqlBatchRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, batch: Batch) -> None:
        self.session.add(batch)
        self.session.flush()

    def get(self, batch_id: int, *, for_update: bool = False) -> Batch | None:
        return self.session.get(Batch, batch_id, with_for_update=for_update or None)

    def delete(self, batch: Batch) -> None:
        self.session.delete(batch)

    def for_user(self, user_id: int) -> Sequence[Batch]:
        query = select(Batch).filter_by(user_id=user_id).order_by(orm.batches.c.id)
        return self.session.scalars(query).all()

    def tasks(self, batch_id: int) -> Sequence[Task]:
        query = select(Task).filter_by(batch_id=batch_id).order_by(orm.tasks.c.id)
        return self.session.scalars(query).all()

    def status_counts(self, batch_ids: Sequence[int]) -> Mapping[int, Mapping[TaskStatus, int]]:
        t = orm.tasks.c
        rows = self.session.execute(
            select(t.batch_id, t.status, func.count())
            .where(t.batch_id.in_(batch_ids))
            .group_by(t.batch_id, t.status)
        )
        counts: dict[int, dict[TaskStatus, int]] = {}
        for batch_id, status, count in rows:
            counts.setdefault(batch_id, {})[TaskStatus(status)] = int(count)
        return counts
