"""Who gets a conversion slot (domain/fair_share.py): round robin between users, a cap
while others wait, and a newcomer started beside a borrower instead of waiting."""

from __future__ import annotations

from audioconv.domain.fair_share import choose, default_cap


def test_alone_a_user_takes_every_free_slot() -> None:
    assert choose(2, 2, {}, [("a", 100)], cap=1) == ["a", "a"]
    assert choose(1, 2, {"a": 1}, [("a", 99)], cap=1) == ["a"]


def test_a_free_slot_goes_to_whoever_runs_fewest_not_to_the_oldest_request() -> None:
    # a's requests are older, but a already runs one: b gets the slot.
    assert choose(1, 2, {"a": 1}, [("a", 50), ("b", 1)], cap=2) == ["b"]
    # Two free slots, two waiting users running nothing: one each, oldest first.
    assert choose(2, 2, {}, [("a", 50), ("b", 3)], cap=2) == ["a", "b"]


def test_no_more_than_the_cap_while_another_waits() -> None:
    # b has nothing left to start, so a may not take the second free slot... unless
    # nobody else waits: b's one request took the first slot and a is alone again.
    assert choose(2, 2, {"a": 1}, [("a", 9), ("b", 1)], cap=1) == ["b", "a"]
    # c still waits after b's slot: a, at its cap of 1, gets nothing.
    assert choose(2, 2, {"a": 1}, [("a", 9), ("b", 1), ("c", 5)], cap=1) == ["b", "c"]
    assert choose(1, 2, {"a": 1, "b": 1}, [("a", 9), ("b", 9)], cap=1) == []


def test_a_newcomer_starts_beside_a_borrower_at_once() -> None:
    # a holds both slots (one borrowed beyond its cap of 1): b runs beyond the slots.
    assert choose(0, 2, {"a": 2}, [("a", 98), ("b", 1)], cap=1) == ["b"]
    # Only one borrowed slot, so only one newcomer runs beyond the slots...
    assert choose(0, 2, {"a": 2}, [("a", 98), ("b", 1), ("c", 1)], cap=1) == ["b"]
    # ... and none once it already runs one beyond them, or has no room left.
    assert choose(0, 1, {"a": 2, "b": 1}, [("a", 98), ("c", 1)], cap=1, beyond=1) == []
    assert choose(0, 0, {"a": 2}, [("a", 98), ("b", 1)], cap=1) == []


def test_nobody_runs_beyond_the_slots_when_nobody_borrows() -> None:
    assert choose(0, 2, {"a": 1, "b": 1}, [("c", 1)], cap=1) == []
    # A user already running waits for a slot like everyone else.
    assert choose(0, 2, {"a": 2, "b": 0}, [("a", 1)], cap=1) == []


def test_the_default_cap_is_half_the_slots_and_at_least_one() -> None:
    assert [default_cap(n) for n in (1, 2, 3, 8)] == [1, 1, 1, 4]


def test_users_waiting_elsewhere_hold_back_a_user_at_its_cap() -> None:
    """The pull worker sees only the requests in its hand; the database says who else waits."""
    assert choose(1, 2, {"a": 1}, [("a", 3)], cap=1) == ["a"]
    assert choose(1, 2, {"a": 1}, [("a", 3)], cap=1, elsewhere={"b"}) == []
    assert choose(1, 2, {"a": 1}, [("a", 3)], cap=1, elsewhere={"a"}) == ["a"]


def test_each_user_is_counted_as_it_is_handed_slots() -> None:
    # b runs nothing, a two: b takes two slots before a gets its turn again.
    assert choose(3, 3, {"a": 2}, [("a", 9), ("b", 9)], cap=9) == ["b", "b", "a"]
    # The fewest running first, the oldest request on a tie.
    assert choose(3, 2, {"a": 1}, [("a", 9), ("b", 9)], cap=5) == ["b", "a", "b"]
    # No more than a user has due.
    assert choose(3, 2, {}, [("a", 2)], cap=5) == ["a", "a"]
    assert choose(3, 2, {}, [("b", 1), ("a", 5)], cap=2) == ["b", "a", "a"]


def test_one_waiting_request_of_another_user_is_enough_to_hold_a_user_at_its_cap() -> None:
    assert choose(1, 2, {"a": 1, "b": 1}, [("a", 5), ("b", 1)], cap=1) == []


def test_as_many_newcomers_start_beside_borrowers_as_slots_are_borrowed() -> None:
    assert choose(0, 2, {"a": 3}, [("a", 9), ("b", 1), ("c", 1)], cap=1) == ["b", "c"]
    assert choose(0, 1, {"a": 3}, [("a", 9), ("b", 1), ("c", 1)], cap=1) == ["b"]
