"""Run an ASGI app under granian or uvicorn, and put HTTP load on it with ``wrk``.

Reusable by every benchmark that measures a route against the hello-world anchor
(:mod:`bench.hello`) on the same server. Everything stays on 127.0.0.1 and is bounded in time.
On a machine with two or more usable cores the server is pinned to one core and ``wrk`` to
another (with ``taskset``), so the two do not compete for the same CPU and every server gets the
same CPU budget.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final, Literal

import msgspec

from phoenix.dev.launcher import NotReady, Process, ProcessExited
from phoenix.server import LISTEN_BACKLOG

ServerName = Literal["granian", "uvicorn"]
LOOPBACK: Final = "127.0.0.1"
STARTUP_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 10.0


class BenchError(RuntimeError):
    """The measurement itself could not be made (server did not start, wrk failed, ...)."""


# --------------------------------------------------------------------------------------------
# CPU placement


class Placement(msgspec.Struct, frozen=True):
    """Which CPUs the server and the load generator run on (empty: not pinned)."""

    server_cpus: tuple[int, ...]
    load_cpus: tuple[int, ...]

    @property
    def pinned(self) -> bool:
        return bool(self.server_cpus)

    def describe(self) -> str:
        if not self.pinned:
            return "not pinned"
        return (
            f"server on cpu {_cpu_list(self.server_cpus)}, wrk on cpu {_cpu_list(self.load_cpus)}"
        )


def _cpu_list(cpus: Sequence[int]) -> str:
    return ",".join(str(cpu) for cpu in cpus)


def placement() -> Placement:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return Placement((), ())
    return Placement((cpus[0],), (cpus[1],))


def _pinned(argv: Sequence[str], cpus: Sequence[int]) -> list[str]:
    if not cpus:
        return list(argv)
    return ["taskset", "-c", _cpu_list(cpus), *argv]


# --------------------------------------------------------------------------------------------
# Servers


class ServerCommand(msgspec.Struct, frozen=True):
    server: ServerName
    argv: tuple[str, ...]
    details: str  # e.g. "uvicorn 0.30.0, http h11, loop asyncio"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def granian_loop() -> str:
    """What granian's ``--loop auto`` (our production setting) resolves to on this machine."""
    for loop in ("rloop", "uvloop"):
        if _installed(loop):
            return loop
    return "asyncio"


def uvicorn_http() -> str:
    return "httptools" if _installed("httptools") else "h11"


def uvicorn_loop() -> str:
    return "uvloop" if _installed("uvloop") else "asyncio"


def granian_command(
    target: str, port: int, *, factory: bool, workers: int = 1, max_requests: int | None = None
) -> ServerCommand:
    """As ``phoenix serve`` runs it (phoenix.server): ASGI interface, loop auto; with
    ``max_requests``, its backlog and backpressure as ``phoenix serve`` sets them."""
    argv = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "auto",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if factory:
        argv.append("--factory")
    if max_requests is not None:
        backlog = max(LISTEN_BACKLOG, max_requests)
        argv += ["--backlog", str(backlog), "--backpressure", str(max_requests)]
    details = f"granian {_version('granian')}, {workers} worker(s), loop {granian_loop()}"
    return ServerCommand("granian", (*argv, target), details)


def uvicorn_command(target: str, port: int, *, factory: bool) -> ServerCommand:
    """1 worker, access log off, the fastest HTTP parser and event loop installed."""
    http, loop = uvicorn_http(), uvicorn_loop()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--workers",
        "1",
        "--http",
        http,
        "--loop",
        loop,
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if factory:
        argv.append("--factory")
    details = f"uvicorn {_version('uvicorn')}, http {http}, loop {loop}"
    return ServerCommand("uvicorn", (*argv, target), details)


def server_command(server: ServerName, target: str, port: int, *, factory: bool) -> ServerCommand:
    build = granian_command if server == "granian" else uvicorn_command
    return build(target, port, factory=factory)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback only)
            status: int = response.status
            return 200 <= status < 300
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def running(
    command: ServerCommand,
    *,
    port: int,
    ready_path: str,
    env: Mapping[str, str] | None = None,
    cpus: Sequence[int] = (),
) -> Iterator[str]:
    """Start the server, wait until ``ready_path`` answers 2xx, yield its base URL, stop it.

    The server gets its own process group, so stopping it also stops granian's worker process.
    Its stdout (access logs of the app) is discarded; stderr is kept for the error message.
    """
    base_url = f"http://{LOOPBACK}:{port}"
    with tempfile.TemporaryDirectory(prefix="phoenix-bench-") as tmp:
        process = Process(
            _pinned(command.argv, cpus),
            env={**os.environ, **(env or {})},
            log=Path(tmp) / "stderr.log",
            own_group=True,
            discard_stdout=True,
        )
        try:
            process.wait_ready(
                lambda: _answers(base_url + ready_path), STARTUP_TIMEOUT, command.details
            )
        except (ProcessExited, NotReady) as error:
            raise BenchError(str(error)) from None
        try:
            yield base_url
        finally:
            process.stop(grace=STOP_TIMEOUT)


# --------------------------------------------------------------------------------------------
# Load: wrk


class WrkResult(msgspec.Struct, frozen=True, kw_only=True):
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


_TIME_UNITS_MS: Final = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.MULTILINE)
_PERCENTILE = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_NON_2XX = re.compile(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", re.MULTILINE)
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)


def _to_ms(number: str, unit: str) -> float:
    return float(number) * _TIME_UNITS_MS[unit]


def parse_wrk(output: str) -> WrkResult:
    """Parse ``wrk --latency`` output."""
    rps = _RPS.search(output)
    total = _TOTAL.search(output)
    percentiles = {float(p): _to_ms(n, u) for p, n, u in _PERCENTILE.findall(output)}
    if rps is None or total is None or 50.0 not in percentiles or 99.0 not in percentiles:
        raise BenchError(f"cannot parse wrk output (was --latency given?):\n{output}")
    non_2xx = _NON_2XX.search(output)
    socket_errors = _SOCKET_ERRORS.search(output)
    return WrkResult(
        requests=int(total.group(1)),
        seconds=_to_ms(total.group(2), total.group(3)) / 1000,
        requests_per_second=float(rps.group(1)),
        p50_ms=percentiles[50.0],
        p99_ms=percentiles[99.0],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
    )


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise BenchError("wrk is not installed (Debian package `wrk`: apt-get install -y wrk)")
    return path


def wrk(
    url: str,
    *,
    seconds: float,
    connections: int = 64,
    threads: int = 1,
    cpus: Sequence[int] = (),
    script: Path | None = None,
    script_args: Sequence[str] = (),
    timeout_seconds: int = 5,
) -> WrkResult:
    """Load ``url`` (loopback only) for ``seconds``, optionally through a Lua ``script`` given
    ``script_args``; fails on any non-2xx answer."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise BenchError(f"wrk is only ever pointed at {LOOPBACK}, not {url}")
    argv = [
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        f"{timeout_seconds}s",
        "--latency",
    ]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    if script_args:
        argv += ["--", *script_args]
    completed = subprocess.run(
        _pinned(argv, cpus),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    result = parse_wrk(completed.stdout)
    if result.non_2xx or result.requests == 0:
        raise BenchError(f"{url} answered {result.non_2xx} non-2xx responses:\n{completed.stdout}")
    if result.socket_errors > result.requests // 1000:
        raise BenchError(f"{url}: {result.socket_errors} socket errors:\n{completed.stdout}")
    return result
