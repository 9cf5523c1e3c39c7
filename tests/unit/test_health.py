"""Readiness costs each dependency one probe a second at most, whatever the number of callers."""

from __future__ import annotations

import asyncio

from litestar.testing import AsyncTestClient

from phoenix.common.health import CachedChecks, ReadinessCheck
from phoenix.common.web import build_app, ops_app
from phoenix.settings import CommonSettings


class CountedProbe:
    """A dependency that is up, and counts how often it was asked."""

    def __init__(self, *, hold: asyncio.Event | None = None) -> None:
        self.calls = 0
        self.hold = hold

    async def __call__(self) -> None:
        self.calls += 1
        if self.hold is not None:
            await self.hold.wait()


class FrozenClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_flood_of_readyz_makes_a_couple_of_probes_not_one_each() -> None:
    probe = CountedProbe()
    app = build_app(role="test", settings=CommonSettings(), checks=[ReadinessCheck("store", probe)])
    async with AsyncTestClient(ops_app(app)) as client:
        answers = await asyncio.gather(*(client.get("/readyz") for _ in range(200)))
    assert [answer.status_code for answer in answers] == [200] * 200
    # One check, or two if the flood outlasted the second a result is reused for.
    assert 1 <= probe.calls <= 2


async def test_callers_during_a_check_share_it() -> None:
    hold = asyncio.Event()
    probe = CountedProbe(hold=hold)
    checks = CachedChecks([ReadinessCheck("store", probe)], timeout=5, clock=FrozenClock())
    callers = [asyncio.create_task(checks.results()) for _ in range(200)]
    await asyncio.sleep(0)  # every caller is now waiting on the one check in flight
    hold.set()
    assert await asyncio.gather(*callers) == [{"store": "ok"}] * 200
    assert probe.calls == 1


async def test_a_result_is_reused_for_a_second_then_checked_again() -> None:
    probe = CountedProbe()
    clock = FrozenClock()
    checks = CachedChecks([ReadinessCheck("store", probe)], timeout=5, clock=clock)
    await checks.results()
    clock.now += 0.9
    await checks.results()
    assert probe.calls == 1
    clock.now += 0.2
    await checks.results()
    assert probe.calls == 2


async def test_a_caller_that_goes_away_does_not_cancel_the_check_others_await() -> None:
    hold = asyncio.Event()
    probe = CountedProbe(hold=hold)
    checks = CachedChecks([ReadinessCheck("store", probe)], timeout=5, clock=FrozenClock())
    leaving, staying = asyncio.create_task(checks.results()), asyncio.create_task(checks.results())
    await asyncio.sleep(0)
    leaving.cancel()
    hold.set()
    assert await staying == {"store": "ok"}
    assert probe.calls == 1


async def test_a_dependency_down_is_reused_for_a_second_too() -> None:
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("refused")

    checks = CachedChecks([ReadinessCheck("store", down)], timeout=5, clock=FrozenClock())
    assert await checks.results() == {"store": "down"}
    assert await checks.results() == {"store": "down"}
    assert calls == 1
