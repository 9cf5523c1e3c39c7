"""Ending a role's background tasks (sweeps, refreshes, subscriptions) at shutdown.

``task.cancel(); await task`` trusts every library the task awaits to let the cancellation
through. One that swallows it (redis-py 8.2 was seen to: a fleet census cancelled inside
``INFO`` returned normally, and its loop went on to sleep for the next hour) leaves the task
running and the shutdown waiting on it for ever. So the cancellation is repeated, as anyio
repeats a cancel scope's, until the task ends or the grace is up; a task that outlives it is
logged and left behind rather than allowed to hold the process.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from phoenix.common.logging import get_logger

GRACE_SECONDS: Final = 10.0
# Often enough that a swallowed cancellation costs a shutdown little; seldom enough that a
# task cleaning up after its first cancellation (closing a connection) is not cut short.
REPEAT_SECONDS: Final = 0.2

_log = get_logger("phoenix.common.background")


async def stop(*tasks: asyncio.Task[Any] | None, grace: float = GRACE_SECONDS) -> bool:
    """Cancel ``tasks`` until each has ended, for at most ``grace`` seconds. True when all did.

    A task's own exception is not raised here (it is retrieved, so asyncio does not log it as
    never retrieved): a background task's failure has been logged by the task, and shutdown
    goes on.
    """
    pending = {task for task in tasks if task is not None and not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while pending and (left := deadline - loop.time()) > 0:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(REPEAT_SECONDS, left))
    for ended in tasks:
        if ended is not None and ended.done() and not ended.cancelled():
            ended.exception()
    for task in pending:
        _log.warning("background_task_not_stopped", task=task.get_name())
    return not pending
