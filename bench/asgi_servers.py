"""Which ASGI server runs our Litestar apps: granian vs uvicorn (informational, no goal).

Two apps, each under both servers (1 worker each, a subprocess on a free loopback port):

- the analytics role's real app (``phoenix.app:app_from_environment``, PHOENIX_ROLE=analytics,
  which needs no database), ``GET /healthz`` — our middleware, access log and problem handling;
- the hello-world Litestar route (:mod:`bench.hello`), ``GET /`` — the framework's minimum.

Load: ``wrk -t1 -c64 --latency``, after a short warm-up, in interleaved rounds (best round kept),
the servers and wrk pinned to different cores when there are two. Figures are granian's,
anchored on uvicorn's in the same run (ratio > 1 for req/s, < 1 for p99 latency means granian
is better), plus /healthz against the hello-world route on granian (what our app costs on top of
the framework).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import msgspec

from bench import hello
from bench.report import Result
from bench.servers import (
    ServerName,
    WrkResult,
    free_port,
    placement,
    running,
    server_command,
    wrk,
)

WARMUP_SECONDS: Final = 1.0
MEASURE_SECONDS: Final = 3.0
ROUNDS: Final = 3
CONNECTIONS: Final = 64
SERVERS: Final[tuple[ServerName, ...]] = ("granian", "uvicorn")
REPO_ROOT: Final = Path(__file__).resolve().parent.parent


class App(msgspec.Struct, frozen=True):
    label: str  # as it appears in figure names
    target: str
    path: str
    env: Mapping[str, str]


class Measured(msgspec.Struct, frozen=True):
    """The best of the rounds: highest req/s, lowest p99 (background load only ever hurts)."""

    requests_per_second: float
    p99_ms: float

    @classmethod
    def best_of(cls, rounds: Sequence[WrkResult]) -> Measured:
        return cls(
            requests_per_second=max(r.requests_per_second for r in rounds),
            p99_ms=min(r.p99_ms for r in rounds),
        )


def _apps() -> tuple[App, ...]:
    pythonpath = os.pathsep.join(
        part for part in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if part
    )
    return (
        App(
            "/healthz",
            "phoenix.app:app_from_environment",
            "/healthz",
            {
                "PHOENIX_ROLE": "analytics",
                "PHOENIX_ENV": "test",
                # Its own operations port (shared by its servers: the socket is SO_REUSEPORT).
                "PHOENIX_OPS_PORT": str(free_port()),
                "PYTHONPATH": pythonpath,
            },
        ),
        App("hello-world", "bench.hello:create_app", hello.PATH, {"PYTHONPATH": pythonpath}),
    )


def _note(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def measure_all(apps: Sequence[App]) -> dict[tuple[str, ServerName], Measured]:
    """Start every (app, server) pair at once, then load them in turn, round after round.

    Interleaving the rounds spreads any background load on the machine over every server
    instead of letting it fall on whichever happened to be measured at that moment; each round
    starts with a different pair, so no pair always runs first.
    """
    where = placement()
    _note(
        f"wrk -t1 -c{CONNECTIONS}, {ROUNDS} interleaved rounds of {MEASURE_SECONDS:.0f} s after "
        f"a {WARMUP_SECONDS:.0f} s warm-up, best round kept; {where.describe()}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    pairs = [(app, server) for app in apps for server in SERVERS]
    rounds: dict[tuple[str, ServerName], list[WrkResult]] = {}
    with contextlib.ExitStack() as stack:
        urls: dict[tuple[str, ServerName], str] = {}
        for app, server in pairs:
            port = free_port()
            command = server_command(server, app.target, port, factory=True)
            _note(f"{app.label} under {command.details}")
            base_url = stack.enter_context(
                running(
                    command, port=port, ready_path=app.path, env=app.env, cpus=where.server_cpus
                )
            )
            urls[app.label, server] = base_url + app.path
        for url in urls.values():
            wrk(url, seconds=WARMUP_SECONDS, connections=CONNECTIONS, cpus=where.load_cpus)
        keys = list(urls)
        for number in range(ROUNDS):
            shift = number % len(keys)
            for key in keys[shift:] + keys[:shift]:
                result = wrk(
                    urls[key],
                    seconds=MEASURE_SECONDS,
                    connections=CONNECTIONS,
                    cpus=where.load_cpus,
                )
                rounds.setdefault(key, []).append(result)
    for (label, server), results in rounds.items():
        rps = ", ".join(f"{r.requests_per_second:,.0f}" for r in results)
        p99 = ", ".join(f"{r.p99_ms:.1f}" for r in results)
        _note(f"{server} {label}: req/s {rps}; p99 ms {p99}")
    return {key: Measured.best_of(results) for key, results in rounds.items()}


def figures(label: str, granian: Measured, uvicorn: Measured) -> list[Result]:
    return [
        Result(
            figure=f"asgi: granian {label} req/s",
            value=round(granian.requests_per_second, 1),
            unit="req/s",
            anchor=f"uvicorn {label} req/s",
            anchor_value=round(uvicorn.requests_per_second, 1),
        ),
        Result(
            figure=f"asgi: granian {label} p99 latency",
            value=round(granian.p99_ms, 3),
            unit="ms",
            anchor=f"uvicorn {label} p99 latency",
            anchor_value=round(uvicorn.p99_ms, 3),
        ),
    ]


def run() -> list[Result]:
    apps = _apps()
    measured = measure_all(apps)
    results: list[Result] = []
    for app in apps:
        results.extend(
            figures(app.label, measured[app.label, "granian"], measured[app.label, "uvicorn"])
        )
    results.append(
        Result(
            figure="asgi: /healthz req/s on granian",
            value=round(measured["/healthz", "granian"].requests_per_second, 1),
            unit="req/s",
            anchor="hello-world req/s on granian",
            anchor_value=round(measured["hello-world", "granian"].requests_per_second, 1),
        )
    )
    return results
