"""The cycle collector of a server worker, run on a clock from its event loop.

Nearly everything a request makes is freed by reference counting; the collector only finds
reference cycles. CPython starts a pass when allocations outnumber deallocations of tracked
objects by a threshold, and every old object freed counts against new ones: in config, with
10,000 long-polls waiting and hundreds ending each second, the youngest generation grew to
600,000 objects between passes, and each pass stopped every request for 0.3-0.6 s (measured in
bench fleet, gc.DEBUG_STATS); with the default threshold the passes took a third of the CPU.

Here the automatic collector is off; instead the youngest generation is collected every
:data:`YOUNG_SECONDS` (what 0.1 s allocated), the middle one every :data:`MIDDLE_EVERY` of
those (what survived them: mostly requests still in flight, and waiting polls), and everything
every :data:`FULL_SECONDS` (for the rare cycle that outlived both). A pause is then bounded by
what a fraction of a second allocates: in bench fleet at 10,000 polls, young passes at most
30-60 ms, middle ones 60-190 ms with a middle pass every tenth (hence every third now), about
10 % of the CPU in all. What startup made (modules, the app, its routes) is frozen out of every
pass. Tests and tools keep CPython's default: only `phoenix serve`'s workers run this.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Final

from phoenix.common import background

YOUNG_SECONDS: Final = 0.1
MIDDLE_EVERY: Final = 3
FULL_SECONDS: Final = 600.0


class Collector:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        gc.freeze()
        gc.disable()
        self._task = asyncio.create_task(self._run(), name="cycle-collector")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await background.stop(task)
        gc.enable()

    async def _run(self) -> None:
        passes = 0
        last_full = self._clock()
        while True:
            await asyncio.sleep(YOUNG_SECONDS)
            passes += 1
            if self._clock() - last_full >= FULL_SECONDS:
                gc.collect(2)
                last_full = self._clock()
            elif passes % MIDDLE_EVERY == 0:
                gc.collect(1)
            else:
                gc.collect(0)
