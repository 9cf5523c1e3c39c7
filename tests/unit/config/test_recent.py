"""Reused NodeDB answers expire on time and can be forgotten at once."""

from __future__ import annotations

from phoenix.config.recent import Recent


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_exactly_its_seconds() -> None:
    clock = Clock()
    recent: Recent[str, int] = Recent(1.0, clock)
    recent.put("de-fra", 1)
    clock.now += 0.999
    assert recent.get("de-fra") == 1
    clock.now += 0.001
    assert recent.get("de-fra") is None


def test_forgetting_one_or_all() -> None:
    recent: Recent[str, int] = Recent(60.0, Clock())
    recent.put("a", 1)
    recent.put("b", 2)
    recent.forget("a")
    assert (recent.get("a"), recent.get("b")) == (None, 2)
    recent.forget()
    assert recent.get("b") is None


def test_zero_seconds_keeps_nothing() -> None:
    recent: Recent[str, int] = Recent(0, Clock())
    recent.put("a", 1)
    assert recent.get("a") is None
