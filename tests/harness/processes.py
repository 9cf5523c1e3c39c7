"""Processes the tests start and stop themselves: role servers and spare Redis instances."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class SpareRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
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
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ops_url(self) -> str:
        return f"http://127.0.0.1:{self.ops_port}"

    def start(self) -> RoleServer:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "phoenix",
                "serve",
                "--role",
                self.role,
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.role} exited {self.process.returncode}: {self.logs()}")
            try:
                if all(
                    httpx.get(url + "/healthz", timeout=1).status_code == 200
                    for url in (self.base_url, self.ops_url)
                ):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        logs = self.logs()
        self.process.kill()  # a server that never became healthy must not hold its ports on
        self.process.wait(10)
        raise TimeoutError(f"{self.role} did not become healthy: {logs}")

    def stop(self, timeout: float = 40) -> int:
        """SIGTERM, as an orchestrator would; returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
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
