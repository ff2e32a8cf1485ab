"""How long the Pub/Sub pull worker defers a message it cannot handle yet."""

from __future__ import annotations

import pytest

from audioconv.adapters.pubsub_pull import defer_seconds


@pytest.mark.parametrize(
    ("after", "attempt", "seconds"),
    [
        (5.0, None, 10),  # never below Pub/Sub's advised minimum
        (30.4, 1, 30),  # a busy task's lease end
        (61.0, 2, 61),
        (30.0, 3, 40),  # the back-off has grown past the lease end
        (30.0, 7, 600),  # 640 s of back-off, capped at Pub/Sub's longest deadline
        (5000.0, 1, 600),
    ],
)
def test_a_deferral_waits_for_its_time_and_never_less_than_the_back_off(
    after: float, attempt: int | None, seconds: int
) -> None:
    assert defer_seconds(after, attempt) == seconds


def test_ten_deferrals_of_a_long_conversions_duplicate_take_as_long_as_nacks_would() -> None:
    """A duplicate of a conversion whose lease keeps being renewed (61 s away each
    time) reaches a 10-delivery dead-letter limit no sooner than the retry policy's
    10-600 s back-off would take it there (~40 minutes)."""
    total = sum(defer_seconds(61.0, attempt) for attempt in range(1, 11))
    assert total >= 10 + 20 + 40 + 80 + 160 + 320 + 4 * 600  # what nacks take
