"""A waiting poll with nothing to answer ends up to a fifth early, at random, never late."""

from __future__ import annotations

from phoenix.config.service import POLL_JITTER, poll_wait


def test_a_poll_waits_at_most_what_it_asked_and_at_least_four_fifths_of_it() -> None:
    assert poll_wait(25.0, 0.0) == 25.0
    assert poll_wait(25.0, 0.999) > 25.0 * (1 - POLL_JITTER)
    assert poll_wait(0.0) == 0.0


def test_polls_that_began_together_end_apart() -> None:
    waits = {poll_wait(25.0) for _ in range(100)}
    assert len(waits) > 90
    assert min(waits) >= 20.0
    assert max(waits) <= 25.0
