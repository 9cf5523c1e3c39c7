"""A slot's send that fails (the broker is away) is sent again by the process that won the slot,
within the period, and not past the next firing. The RabbitMQ outage itself is in
``tests/integration/hardening/test_broker_faults.py``; here the send fails on purpose."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from dramatiq.errors import ConnectionClosed

from phoenix.worker import schedule as schedule_module
from phoenix.worker.schedule import Entry, Schedule, slot_of


class FlakySend:
    """Raises as a broker that is down does, ``failures`` times, then sends."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[float] = []

    def __call__(self) -> None:
        self.calls.append(time.time())
        if len(self.calls) <= self.failures:
            raise ConnectionClosed(OSError("connection refused"))


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    made = redis.Redis.from_url(redis_url)
    yield made
    made.close()


def wait_for_calls(send: FlakySend, count: int, seconds: float) -> None:
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
    wait_for_calls(send, 4, 5)
    time.sleep(0.3)
    assert len(send.calls) == 4  # three failures, then sent, and nothing after
    gaps = [later - earlier for earlier, later in zip(send.calls, send.calls[1:], strict=False)]
    assert gaps[0] >= 0.09
    assert gaps[1] >= 0.19  # backing off
    assert gaps[2] >= 0.39


def test_resending_stops_before_the_next_firing_takes_over(
    schedule: Schedule, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schedule_module, "RESEND_FIRST_SECONDS", 0.05)
    send = FlakySend(failures=100)
    now = time.time()
    next_firing = slot_of(now, 1) + 1  # when the slot's period ends (every 1 s)
    assert not schedule.fire(Entry("down", 1, send), now)
    time.sleep(max(0.0, next_firing - time.time()) + 1.0)
    assert len(send.calls) >= 2  # a tenth of the period apart at most: several tries
    assert all(at < next_firing for at in send.calls)
