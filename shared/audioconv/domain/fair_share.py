"""Fair share of the conversion slots between users: who runs next.

The rule, for whichever consumer hands out slots (the embedded queue,
adapters/sql_queue.py; the Pub/Sub pull worker, entrypoints/pull_worker.py):

- A free slot goes to the waiting user who runs the fewest conversions (then to
  the one whose oldest request is oldest): round robin between users, not first
  come first served, so one user's backlog never stands in front of another's.
- A user may hold at most ``cap`` slots while anyone else waits (the setting
  ``user_conversion_slots``); alone, a user takes every slot (nothing idles).
- A conversion cannot be taken back once it runs (its work would be lost), so a
  user who holds slots beyond ``cap`` is *borrowing* them. A waiting user who runs
  nothing does not wait for a borrowed slot to end (that could be a 20-minute file):
  the consumer starts their conversion at once beside it, beyond its slots, at most
  one per borrowed slot (``spare`` bounds it further); it starts nothing for the
  borrower until it is back under its slots. So the machine runs at most twice its
  slots for a moment, and the newcomer's wait does not depend on how long the
  borrower's files are.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from typing import TypeVar

G = TypeVar("G", bound=Hashable)


def default_cap(slots: int) -> int:
    """Slots one user may hold while others wait, when not configured: half, at least 1."""
    return max(1, slots // 2)


def choose(
    free: int,
    spare: int,
    running: Mapping[G, int],
    waiting: Sequence[tuple[G, int]],
    cap: int,
    beyond: int = 0,
    elsewhere: Collection[G] = (),
) -> list[G]:
    """Whose requests to start now, one entry per slot handed out (a user may appear
    more than once).

    ``free``: slots free here; ``spare``: how many more it may start beyond them;
    ``running``: conversions running per user (everywhere the share is kept);
    ``waiting``: each waiting user with how many requests are due (> 0), oldest first;
    ``beyond``: how many it runs beyond its slots already (they repay borrowed ones);
    ``elsewhere``: users whose requests wait where this consumer cannot take them yet
    (another instance, or not yet delivered): they count as waiting, nothing more.
    """
    running = dict(running)
    due = dict(waiting)
    order = {group: index for index, (group, _) in enumerate(waiting)}
    picks: list[G] = []

    def others_wait(group: G) -> bool:
        return any(count > 0 for other, count in due.items() if other != group) or any(
            other != group for other in elsewhere
        )

    while free > 0:
        eligible = [
            g for g, count in due.items()
            if count > 0 and (running.get(g, 0) < cap or not others_wait(g))
        ]  # fmt: skip
        if not eligible:
            break
        group = min(eligible, key=lambda g: (running.get(g, 0), order[g]))
        picks.append(group)
        running[group] = running.get(group, 0) + 1
        due[group] -= 1
        free -= 1
    borrowed = sum(max(0, count - cap) for count in running.values())
    # Every user running nothing still has all its requests due (``waiting`` counts > 0).
    newcomers = [group for group, _ in waiting if running.get(group, 0) == 0]
    return picks + newcomers[: max(0, min(spare, borrowed - beyond))]
