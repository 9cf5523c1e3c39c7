"""Shutdown ends a role's background tasks even when a library swallows a cancellation."""

from __future__ import annotations

import asyncio
import contextlib

from phoenix.common import background


async def swallows_one_cancellation(started: asyncio.Event) -> None:
    """A loop whose awaited call took the cancellation for its own and returned normally (as
    redis-py's INFO did in the fleet census), and which then sleeps until its next round."""
    started.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(3600)
    await asyncio.sleep(3600)


async def ends_only_when_let_go(let_go: asyncio.Event) -> None:
    while not let_go.is_set():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)


async def test_one_cancellation_is_not_enough_for_a_task_that_swallows_it() -> None:
    # The failure this module exists for: cancel once, and the await never returns.
    started = asyncio.Event()
    task = asyncio.create_task(swallows_one_cancellation(started))
    await started.wait()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1)
    assert not done
    assert await background.stop(task)


async def test_a_task_that_swallows_a_cancellation_is_stopped_within_moments() -> None:
    started = asyncio.Event()
    task = asyncio.create_task(swallows_one_cancellation(started))
    await started.wait()
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await background.stop(task)
    assert task.cancelled()
    assert loop.time() - began < background.GRACE_SECONDS / 2


async def test_a_task_that_never_ends_is_left_behind_after_the_grace() -> None:
    let_go = asyncio.Event()
    task = asyncio.create_task(ends_only_when_let_go(let_go))
    await asyncio.sleep(0)
    assert not await background.stop(task, grace=0.5)
    assert not task.done()
    let_go.set()
    assert await background.stop(task)


async def test_a_task_s_own_failure_does_not_stop_the_shutdown() -> None:
    async def fails() -> None:
        raise RuntimeError("a bad sweep")

    failed = asyncio.create_task(fails())
    sleeping = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    assert await background.stop(failed, sleeping, None)
    assert sleeping.cancelled()
