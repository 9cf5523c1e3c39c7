"""The worker's Dramatiq actors, declared on the broker the app factory hands in.

Actors are made here from services built in the app factory (not at import time with a global
broker), so a test or a process can declare them on any broker. Each one may run twice: the
services underneath are idempotent. Retries back off exponentially; a message that still fails
lands in the broker's dead-letter place (Redis ``<namespace>:<queue>.XQ``, RabbitMQ queue
``<queue>.XQ``), and :class:`DeadLetters` logs it and counts it in ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware
from prometheus_client import Counter

from phoenix.common.logging import get_logger

_log = get_logger("phoenix.worker.jobs")

DEAD_LETTERS = Counter(
    "phoenix_worker_dead_letters",
    "Messages that failed every retry and went to the dead-letter queue",
    ["actor"],
)


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
        )(_logged(name, function))
    return actors


def _logged(name: str, function: Callable[..., object]) -> Callable[..., None]:
    def run(*args: Any) -> None:
        try:
            outcome = function(*args)
        except Exception as error:
            # Dramatiq retries it; the line says which job and why, never a payload.
            _log.warning(
                "job_failed", job=name, args=list(args), error=f"{type(error).__name__}: {error}"
            )
            raise
        _log.info("job_done", job=name, args=list(args), outcome=str(outcome))

    run.__name__ = name
    return run
