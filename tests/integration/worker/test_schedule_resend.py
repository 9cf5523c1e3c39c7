"""A slot's send that fails (the broker is away) is sent again by the process that won the slot,
within the period, and not past the next firing. The RabbitMQ outage itself is in
``tests/integration/hardening/test_broker_faults.py``; here the send fails on purpose.

Where a test is about periods it gives the schedule a clock of its own and moves it: whether a
try falls in a period then never depends on how busy the machine is."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis
from dramatiq.errors import ConnectionClosed

from phoenix.worker import schedule as schedule_module
from phoenix.worker.schedule import Entry, Schedule, next_firing, slot_of

PERIOD = 60
PERIOD_START = 1_800_000_000.0  # a firing instant of a 60 s schedule (a multiple of 60)


class ManualClock:
    """The schedule's time, moved by the test alone (APScheduler still waits in real time)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FlakySend:
    """Raises as a broker that is down does, ``failures`` times, then sends; records when."""

    def __init__(
        self,
        failures: int,
        clock: Callable[[], float] = time.time,
        each_try: Callable[[], None] = lambda: None,
    ) -> None:
        self.failures = failures
        self.clock = clock
        self.each_try = each_try
        self.calls: list[float] = []

    def __call__(self) -> None:
        self.calls.append(self.clock())
        self.each_try()
        if len(self.calls) <= self.failures:
            raise ConnectionClosed(OSError("connection refused"))


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    made = redis.Redis.from_url(redis_url)
    yield made
    made.close()


def wait_for_calls(send: FlakySend, count: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while len(send.calls) < count and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture
def schedule(client: redis.Redis, namespace: str) -> Iterator[Schedule]:
    """A started schedule with no interval job: only the firings a test makes, and resends."""
    made = Schedule(client, namespace, [])
    made.start()
    yield made
    made.stop()


def test_a_failed_send_is_sent_again_until_the_broker_takes_it(
    schedule: Schedule, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schedule_module, "RESEND_FIRST_SECONDS", 0.1)
    send = FlakySend(failures=3)
    assert not schedule.fire(Entry("flaky", 3600, send))
    wait_for_calls(send, 4)
    time.sleep(0.3)
    assert len(send.calls) == 4  # three failures, then sent, and nothing after
    gaps = [later - earlier for earlier, later in zip(send.calls, send.calls[1:], strict=False)]
    assert gaps[0] >= 0.09
    assert gaps[1] >= 0.19  # backing off
    assert gaps[2] >= 0.39


def test_resending_stops_before_the_next_firing_takes_over(
    client: redis.Redis, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schedule_module, "RESEND_FIRST_SECONDS", 0.05)
    clock = ManualClock(PERIOD_START)
    # Each try takes a fifth of the period, as a broker's connect timing out would.
    send = FlakySend(failures=100, clock=clock, each_try=lambda: clock.advance(PERIOD / 5))
    schedule = Schedule(client, namespace, [], clock=clock)
    schedule.start()
    try:
        assert not schedule.fire(Entry("down", PERIOD, send))
        wait_for_calls(send, 5)
        time.sleep(1.0)  # longer than the next try's backoff (0.8 s), were there one
    finally:
        schedule.stop()
    ends = next_firing(slot_of(PERIOD_START, PERIOD), PERIOD)
    assert send.calls == [PERIOD_START + i * PERIOD / 5 for i in range(5)]  # several tries
    assert all(at < ends for at in send.calls)


def test_a_resend_that_comes_due_only_at_the_next_firing_sends_nothing(
    client: redis.Redis, namespace: str
) -> None:
    clock = ManualClock(PERIOD_START)
    send = FlakySend(failures=0, clock=clock)
    entry = Entry("late", PERIOD, send)
    slot = slot_of(clock(), PERIOD)
    # Not started: the test runs the resend itself, as late as a busy machine might.
    schedule = Schedule(client, namespace, [], clock=clock)
    clock.now = next_firing(slot, PERIOD)
    assert not schedule.send_again(entry, slot, attempt=2)
    clock.now -= 0.001
    assert schedule.send_again(entry, slot, attempt=2)  # a moment earlier it would have sent
    assert send.calls == [clock.now]
