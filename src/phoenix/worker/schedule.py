"""The schedule: APScheduler fires in every worker process; a Redis lock lets one of them send.

Every process runs the same interval triggers anchored at the Unix epoch, so they all fire at
the same wall-clock instants. Each firing belongs to a slot (the period it starts); the first
process to `SET NX` the slot's key sends the message, the others see the key and do nothing. So
one schedule fires once per period however many worker processes run, and a process that
restarts mid-period does not fire it again.

The process that won a slot is the only one that will send it, so a send that fails (the broker
is down) is not dropped: the same process sends again, with backoff (at most a tenth of the
period apart), as one-off jobs of the same scheduler, until the broker takes it or the next
period's firing takes over. A resend that comes due only once the next firing is due (the
machine was busy) sends nothing: that firing sends for itself.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import redis
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from phoenix.common.logging import get_logger

_log = get_logger("phoenix.worker.schedule")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RESEND_FIRST_SECONDS: Final = 1.0
RESEND_MAX_SECONDS: Final = 30.0


@dataclass(frozen=True)
class Entry:
    name: str  # unique per schedule, part of the lock key
    every_seconds: int
    send: Callable[[], object]


def slot_of(now: float, every_seconds: int) -> int:
    """The period a firing at ``now`` belongs to; half a period of clock skew still agrees."""
    return int((now + every_seconds / 2) // every_seconds)


def next_firing(slot: int, every_seconds: int) -> int:
    """When the firing after ``slot``'s is due, which takes over from its resends."""
    return (slot + 1) * every_seconds


class Schedule:
    def __init__(
        self,
        client: redis.Redis,
        namespace: str,
        entries: list[Entry],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.entries = [entry for entry in entries if entry.every_seconds > 0]
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        # Which period it is; a test passes its own to end a period without waiting for it.
        self._clock = clock
        self._scheduler = BackgroundScheduler(timezone=UTC)

    def lock_key(self, entry: Entry, slot: int) -> str:
        return f"{self.namespace}:schedule:{entry.name}:{slot}"

    def fire(self, entry: Entry, now: float | None = None) -> bool:
        """Send ``entry``'s message if this process wins its slot; True when it did."""
        slot = slot_of(self._clock() if now is None else now, entry.every_seconds)
        try:
            # The key outlives the period so a late process cannot take the same slot again.
            won = self.client.set(
                self.lock_key(entry, slot),
                self.holder,
                nx=True,
                ex=max(2 * entry.every_seconds, 60),
            )
        except redis.RedisError as error:
            # Without the lock we cannot know no other process sends: skip, the next slot runs.
            _log.error("schedule_lock_unavailable", schedule=entry.name, error=type(error).__name__)
            return False
        if not won:
            return False
        return self._send(entry, slot, attempt=1)

    def send_again(self, entry: Entry, slot: int, attempt: int) -> bool:
        """A later try of ``slot``'s send (a one-off job); none once the next firing is due."""
        if self._clock() >= next_firing(slot, entry.every_seconds):
            _log.warning("schedule_resend_overtaken", schedule=entry.name, slot=slot)
            return False
        return self._send(entry, slot, attempt)

    def _send(self, entry: Entry, slot: int, attempt: int) -> bool:
        """Send the slot's message; when that fails, send again later in the same period."""
        try:
            entry.send()
        except Exception as error:  # the broker is away (each broker raises its own errors)
            # Backing off, but at least ten tries a period: a short schedule gets its job
            # soon after the broker is back, not at its last try before the next firing.
            delay = min(
                RESEND_MAX_SECONDS,
                entry.every_seconds / 10,
                RESEND_FIRST_SECONDS * 2 ** (attempt - 1),
            )
            again = self._clock() + delay
            overtaken = again >= next_firing(slot, entry.every_seconds)
            _log.error(
                "schedule_send_failed",
                schedule=entry.name,
                slot=slot,
                attempt=attempt,
                error=type(error).__name__,
                retry_in=None if overtaken else delay,
            )
            if not overtaken:
                # APScheduler waits in its own time; the clock only says which period it is.
                self._scheduler.add_job(
                    self.send_again,
                    DateTrigger(datetime.now(UTC) + timedelta(seconds=delay)),
                    args=[entry, slot, attempt + 1],
                    id=f"{entry.name}:resend",
                    replace_existing=True,
                    misfire_grace_time=None,
                )
            return False
        _log.info("schedule_fired", schedule=entry.name, slot=slot, attempt=attempt)
        return True

    def start(self) -> None:
        for entry in self.entries:
            self._scheduler.add_job(
                self.fire,
                IntervalTrigger(seconds=entry.every_seconds, start_date=EPOCH, timezone=UTC),
                args=[entry],
                id=entry.name,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=max(1, entry.every_seconds // 2),
            )
        self._scheduler.start()
        _log.info("schedule_started", schedules=[entry.name for entry in self.entries])

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
