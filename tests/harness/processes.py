"""Processes the tests start and stop themselves: role servers and spare Redis instances, run by
the launcher `phoenix dev` uses (phoenix.dev.launcher)."""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

from phoenix.dev.launcher import Process, wait_until
from phoenix.dev.probes import answers_ok, free_port, port_open

REPO = Path(__file__).resolve().parents[2]


def restartable_port() -> int:
    """A free port outside the kernel's ephemeral range, for a server a test stops and starts
    again on the same port: while it is down, any process's outgoing connection may be given
    a port from that range as its own, and a port so taken made a restarted RabbitMQ fail with
    eaddrinuse (seen once in CI)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        port = secrets.randbelow(low - 20_000) + 20_000
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port between 20000 and {low}")


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    """Until something listens on 127.0.0.1:`port` (NotReady, a TimeoutError, if nothing does)."""
    wait_until(functools.partial(port_open, port, 0.2), timeout, f"127.0.0.1:{port}", interval=0.05)


class SpareRedis:
    """A redis-server of the test's own on a spare port; ``options`` are its command-line
    settings beyond the port (none written to disk, by default)."""

    options: tuple[str, ...] = ("--save", "", "--appendonly", "no")

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = restartable_port()  # a fault test stops and starts it on this port
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        self.process = Process(
            [*command, *self.options, "--dir", str(self.directory)], log=Path(os.devnull)
        )
        self.process.wait_ready(functools.partial(port_open, self.port, 0.2), 15, "redis-server")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=10)
        self.process = None


class RoleServer:
    """`phoenix serve --role R` in a subprocess, its output captured to a file; its public port
    at ``base_url``, its ops port (``/readyz``, ``/metrics``, ``/schema``) at ``ops_url``."""

    def __init__(self, role: str, env: Mapping[str, str], log_path: Path, workers: int = 1) -> None:
        self.role = role
        self.port = free_port()
        self.ops_port = free_port()
        self.log_path = log_path
        # Tests run as "test" unless they say otherwise: production refuses their local stores.
        self.env = {
            "PHOENIX_ENV": "test",
            **os.environ,
            "PHOENIX_OPS_PORT": str(self.ops_port),
            **env,
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.workers = workers
        self.process: Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ops_url(self) -> str:
        return f"http://127.0.0.1:{self.ops_port}"

    def start(self) -> RoleServer:
        command = [sys.executable, "-m", "phoenix", "serve", "--role", self.role]
        self.process = Process(
            [*command, "--port", str(self.port), "--workers", str(self.workers)],
            env=self.env,
            cwd=REPO,
            log=self.log_path,
        )
        # A server that never becomes healthy is stopped: it must not hold its ports on.
        self.process.wait_ready(self._healthy, 30, self.role)
        return self

    def _healthy(self) -> bool:
        return all(answers_ok(url + "/healthz", 1) for url in (self.base_url, self.ops_url))

    def stop(self, timeout: float = 40) -> int:
        """SIGTERM, as an orchestrator would; returns the exit code."""
        if self.process is None:
            return 0
        code = self.process.stop(grace=timeout)
        self.process = None
        return code

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def routes_logged(self) -> set[str]:
        """The route templates the access log recorded (its lines are JSON objects)."""
        routes = set()
        for line in self.logs().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == "request":
                routes.add(str(record.get("route")))
        return routes
