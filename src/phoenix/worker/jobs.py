"""The worker's Dramatiq actors, declared on the broker the app factory hands in.

Actors are made here from services built in the app factory (not at import time with a global
broker), so a test or a process can declare them on any broker. Each one may run twice: the
services underneath are idempotent. Retries back off exponentially; a message that still fails
lands in the broker's dead-letter place (Redis ``<namespace>:<queue>.XQ``, RabbitMQ queue
``<queue>.XQ``), and :class:`DeadLetters` logs it and counts it in ``/metrics``.

Every run that succeeds sets its job's last-success time (docs/metrics.md), labelled by its
schedule entry's name (``blocklist:<variant>``, ``retention:<role>``, ``reaper``...): one
variant that keeps failing must show, even while another succeeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware
from prometheus_client import Counter, Gauge

from phoenix.common.logging import get_logger

_log = get_logger("phoenix.worker.jobs")

DEAD_LETTERS = Counter(
    "phoenix_worker_dead_letters",
    "Messages that failed every retry and went to the dead-letter queue",
    ["actor"],
)
LAST_SUCCESS = Gauge(
    "phoenix_worker_job_last_success_timestamp_seconds",
    "Unix time each job last succeeded",
    ["task"],
    multiprocess_mode="mostrecent",
)
INTERVAL = Gauge(
    "phoenix_worker_job_interval_seconds",
    "Each scheduled job's interval",
    ["task"],
    multiprocess_mode="max",
)
FAILURES = Counter("phoenix_worker_job_failures", "Job runs that raised (retried)", ["task"])

# (actor's function name, its arguments) → its schedule entry's name, the ``task`` label
# (not ``job``: Prometheus gives every target a ``job`` label of its own).
ScheduleNames = Mapping[tuple[str, tuple[Any, ...]], str]


class DeadLetters(Middleware):
    """Makes a message that exhausted its retries visible: an error log line and a counter."""

    def after_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        DEAD_LETTERS.labels(actor=message.actor_name).inc()
        _log.error(
            "job_dead_lettered",
            actor=message.actor_name,
            queue=message.queue_name,
            message_id=message.message_id,
            retries=message.options.get("retries", 0),
        )


@dataclass(frozen=True)
class Retrying:
    max_retries: int
    min_backoff_ms: int
    max_backoff_ms: int


def declare(
    broker: dramatiq.Broker,
    queue: str,
    retrying: Retrying,
    functions: dict[str, Callable[..., object]],
    schedule_names: ScheduleNames | None = None,
) -> dict[str, dramatiq.Actor[Any, None]]:
    """One actor per named function, on ``queue``, each with the same retry policy."""
    if not any(isinstance(m, DeadLetters) for m in broker.middleware):
        broker.add_middleware(DeadLetters())
    actors: dict[str, dramatiq.Actor[Any, None]] = {}
    for name, function in functions.items():
        actors[name] = dramatiq.actor(
            broker=broker,
            actor_name=f"{queue}.{name}",
            queue_name=queue,
            max_retries=retrying.max_retries,
            min_backoff=retrying.min_backoff_ms,
            max_backoff=retrying.max_backoff_ms,
        )(_logged(name, function, schedule_names or {}))
    return actors


def _logged(
    name: str, function: Callable[..., object], schedule_names: ScheduleNames
) -> Callable[..., None]:
    def run(*args: Any) -> None:
        # A run sent by hand (not by the schedule) counts under its actor's name.
        job = schedule_names.get((name, args), name)
        try:
            outcome = function(*args)
        except Exception as error:
            FAILURES.labels(job).inc()
            # Dramatiq retries it; the line says which job and why, never a payload.
            _log.warning(
                "job_failed", job=name, args=list(args), error=f"{type(error).__name__}: {error}"
            )
            raise
        LAST_SUCCESS.labels(job).set(time.time())
        _log.info("job_done", job=name, args=list(args), outcome=str(outcome))

    run.__name__ = name
    return run
