"""Heartbeats drift apart: each pause is the interval give or take a tenth, at random."""

from __future__ import annotations

from phoenix_node.agent import HEARTBEAT_JITTER, heartbeat_pause


def test_a_pause_stays_within_a_tenth_of_the_interval() -> None:
    assert heartbeat_pause(10.0, 0.0) == 10.0 * (1 - HEARTBEAT_JITTER)
    assert heartbeat_pause(10.0, 0.5) == 10.0
    assert heartbeat_pause(10.0, 0.999) < 10.0 * (1 + HEARTBEAT_JITTER)


def test_nodes_that_beat_together_do_not_stay_together() -> None:
    pauses = {heartbeat_pause(10.0) for _ in range(100)}
    assert len(pauses) > 90
    assert min(pauses) >= 9.0
    assert max(pauses) <= 11.0
