"""Liveness and readiness.

``/healthz`` answers 200 while the process can serve at all. ``/readyz`` runs the role's own
dependency checks concurrently, each bounded by a timeout, and answers 503 naming every
dependency that is down, so a load balancer stops sending work the role cannot do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import msgspec
from litestar import Controller, get

from phoenix.common.logging import get_logger
from phoenix.common.openapi import problem_answers
from phoenix.common.problems import NotReady

Probe = Callable[[], Awaitable[object]]

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


def health_controller(
    role: str, checks: Sequence[ReadinessCheck], timeout: float
) -> type[Controller]:
    class HealthController(Controller):
        path = "/"
        tags = ["health"]
        include_in_schema = True

        @get("/healthz", summary="Liveness", cache=False)
        async def healthz(self) -> Health:
            return Health(status="ok", role=role)

        @get(
            "/readyz",
            summary="Readiness: the role's own dependencies",
            cache=False,
            responses=problem_answers(NotReady),
        )
        async def readyz(self) -> Readiness:
            results = await run_checks(checks, timeout)
            down = sorted(name for name, result in results.items() if result != "ok")
            if down:
                raise NotReady(
                    f"unavailable: {', '.join(down)}",
                    checks=results,
                    headers={"Retry-After": "5"},
                )
            return Readiness(status="ok", role=role, checks=results)

    return HealthController
