"""Batches: tasks uploaded together, their overall progress, and unique names for a ZIP.

A task belongs to at most one batch (``Task.batch_id``); the batch itself holds only
its owner and an optional name, so deleting a task leaves nothing to fix up: the
batch's counts are always those of the tasks it still has.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath

from audioconv.domain.model import TaskStatus, utcnow

# Longest batch name, in characters.
MAX_BATCH_NAME_CHARS = 200


@dataclass(eq=False)
class Batch:
    user_id: int
    name: str | None = None
    id: int | None = None
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class BatchProgress:
    """How far a batch's tasks are: counts per status and the fraction finished."""

    counts: Mapping[TaskStatus, int]

    @classmethod
    def of(cls, statuses: Iterable[TaskStatus]) -> BatchProgress:
        return cls.counted(Counter(statuses))

    @classmethod
    def counted(cls, counts: Mapping[TaskStatus, int]) -> BatchProgress:
        """From counts per status (missing ones are none)."""
        return cls({status: counts.get(status, 0) for status in TaskStatus})

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        return self.counts[TaskStatus.PROCESSED] + self.counts[TaskStatus.FAILED]

    @property
    def done(self) -> float:
        """Finished tasks (processed or failed) over all tasks; 1.0 for an empty batch."""
        return self.finished / self.total if self.total else 1.0

    def as_json(self) -> dict[str, int | float]:
        """What the API and a ZIP's manifest show: the total, each status, ``done``."""
        counts = {status.value: n for status, n in self.counts.items()}
        return {"total": self.total, **counts, "done": round(self.done, 4)}


def unique_names(names: Iterable[str], taken: Iterable[str] = ()) -> list[str]:
    """Each name, made unique (ignoring case, as Windows and macOS do) by a counter
    before the extension: ``song.mp3``, ``song (2).mp3``, ``song (3).mp3``."""
    used = {name.casefold() for name in taken}
    out = []
    for name in names:
        candidate, n = name, 1
        stem, suffix = PurePath(name).stem, PurePath(name).suffix
        while candidate.casefold() in used:
            n += 1
            candidate = f"{stem} ({n}){suffix}"
        used.add(candidate.casefold())
        out.append(candidate)
    return out
