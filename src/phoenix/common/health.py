"""Liveness and readiness.

``/healthz`` answers 200 while the process can serve at all. ``/readyz`` runs the role's own
dependency checks concurrently, each bounded by a timeout, and answers 503 naming every
dependency that is down, so a load balancer stops sending work the role cannot do.

A probe takes a pooled connection (or opens one), so readiness is answered from a result at most
:data:`READINESS_TTL` old and concurrent callers share the one check in flight: a flood of
``/readyz`` costs one probe of each dependency a second, never a drained pool.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

import msgspec
from litestar import Controller, get

from phoenix.common.logging import get_logger
from phoenix.common.openapi import problem_answers
from phoenix.common.problems import NotReady

Probe = Callable[[], Awaitable[object]]
Clock = Callable[[], float]

# Seconds a readiness result is reused: short next to any probe interval a load balancer or
# kubelet uses, long enough that a flood cannot turn into one probe per request.
READINESS_TTL: Final = 1.0

_log = get_logger("phoenix.health")


@dataclass(frozen=True)
class ReadinessCheck:
    """One dependency the role needs: ``probe`` raises (or hangs) when it is unusable."""

    name: str
    probe: Probe


class Health(msgspec.Struct):
    status: str
    role: str


class Readiness(msgspec.Struct):
    status: str
    role: str
    checks: dict[str, str]


async def run_checks(checks: Sequence[ReadinessCheck], seconds: float) -> dict[str, str]:
    async def one(check: ReadinessCheck) -> str:
        try:
            await asyncio.wait_for(check.probe(), seconds)
        except TimeoutError:
            _log.warning("dependency_down", dependency=check.name, reason="timeout")
            return "down"
        except Exception as error:  # any failure of a probe means "not ready", never a 500
            _log.warning("dependency_down", dependency=check.name, reason=type(error).__name__)
            return "down"
        return "ok"

    results = await asyncio.gather(*(one(check) for check in checks))
    return {check.name: result for check, result in zip(checks, results, strict=True)}


class CachedChecks:
    """:func:`run_checks`, its result reused for ``ttl`` seconds after it ends; callers that come
    while a check runs await that one check rather than starting their own."""

    def __init__(
        self,
        checks: Sequence[ReadinessCheck],
        timeout: float,
        *,
        ttl: float = READINESS_TTL,
        clock: Clock = time.monotonic,
    ) -> None:
        self._checks = tuple(checks)
        self._timeout = timeout
        self._ttl = ttl
        self._clock = clock
        self._result: dict[str, str] | None = None
        self._ended = 0.0
        self._running: asyncio.Task[dict[str, str]] | None = None

    async def results(self) -> dict[str, str]:
        if self._result is not None and self._clock() - self._ended < self._ttl:
            return self._result
        if self._running is None:
            self._running = asyncio.create_task(self._run())
        # Shielded: a caller that goes away does not cancel the check the others await.
        return await asyncio.shield(self._running)

    async def _run(self) -> dict[str, str]:
        try:
            result = await run_checks(self._checks, self._timeout)
            self._result, self._ended = result, self._clock()
            return result
        finally:
            self._running = None


def health_controller(role: str) -> type[Controller]:
    """``/healthz``: served on the public listener and the operations listener alike."""

    class HealthController(Controller):
        path = "/"
        tags = ["health"]
        include_in_schema = True

        @get("/healthz", summary="Liveness", cache=False)
        async def healthz(self) -> Health:
            return Health(status="ok", role=role)

    return HealthController


def readiness_controller(
    role: str, checks: Sequence[ReadinessCheck], timeout: float
) -> type[Controller]:
    """``/readyz``: on the operations listener only (it reaches every dependency)."""
    cached = CachedChecks(checks, timeout)

    class ReadinessController(Controller):
        path = "/"
        tags = ["health"]

        @get(
            "/readyz",
            summary="Readiness: the role's own dependencies",
            cache=False,
            responses=problem_answers(NotReady),
        )
        async def readyz(self) -> Readiness:
            results = await cached.results()
            down = sorted(name for name, result in results.items() if result != "ok")
            if down:
                raise NotReady(
                    f"unavailable: {', '.join(down)}",
                    checks=results,
                    headers={"Retry-After": "5"},
                )
            return Readiness(status="ok", role=role, checks=results)

    return ReadinessController
