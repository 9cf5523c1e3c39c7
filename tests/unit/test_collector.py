"""A server worker's cycle collector runs on a clock from the event loop, not on allocations."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

from phoenix.common.collector import Collector


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: reference counting alone never frees it


async def test_cycles_are_still_collected_with_the_automatic_collector_off() -> None:
    collector = Collector()
    await collector.start()
    try:
        assert not gc.isenabled()
        cycle = Node()
        gone = weakref.ref(cycle)
        del cycle
        deadline = time.monotonic() + 10
        while gone() is not None:
            assert time.monotonic() < deadline, "a cycle outlived the clock's young passes"
            await asyncio.sleep(0.05)
    finally:
        await collector.stop()
    assert gc.isenabled()
    gc.unfreeze()


async def test_without_its_clock_a_cycle_stays_until_someone_collects() -> None:
    # The check above is the clock's doing: with the collector off and no clock, it stays.
    gc.disable()
    try:
        cycle = Node()
        gone = weakref.ref(cycle)
        del cycle
        await asyncio.sleep(0.3)
        assert gone() is not None
        gc.collect()
        assert gone() is None
    finally:
        gc.enable()
