"""HAProxy run from the shipped deploy/haproxy/haproxy.cfg, unmodified, on loopback.

The file takes every address from the environment (deploy/haproxy/README.md); ``HAProxy`` fills
those in with spare loopback ports and the replicas' public and ops ports, sets
``PHOENIX_LB_PLAIN_HTTP`` (tests speak plain HTTP), checks the file (``haproxy -c``) and runs it in
the foreground (``-db``) as a child process, its output (request log and alerts) in a file.
Its ops frontend serves ``/healthz`` and the stats page, read here as CSV to tell which
replicas it considers up and how many requests each got.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from phoenix.dev.launcher import Process, wait_until
from phoenix.dev.probes import answers_ok, free_port
from tests.harness.processes import REPO

CONFIG_FILE = REPO / "deploy" / "haproxy" / "haproxy.cfg"


def available() -> bool:
    return shutil.which("haproxy") is not None


@dataclass(frozen=True)
class Replica:
    """Where HAProxy reaches one replica: its public port and its ops port (``/readyz``)."""

    port: int
    ops_port: int


def environment(
    auth: Sequence[Replica],
    config: Sequence[Replica],
    *,
    auth_port: int | None = None,
    config_port: int | None = None,
    ops_port: int | None = None,
) -> dict[str, str]:
    """The variables haproxy.cfg reads, for two replicas of each role on 127.0.0.1; the
    frontends listen on the given ports, or spare ones."""
    if len(auth) != 2 or len(config) != 2:
        raise ValueError("haproxy.cfg names two replicas of each role")
    env = {
        "PHOENIX_LB_PLAIN_HTTP": "1",
        # A test machine's (or container's) file-descriptor limit may be far below production's.
        "PHOENIX_LB_MAXCONN": "2000",
        "PHOENIX_LB_AUTH_BIND": f"127.0.0.1:{auth_port or free_port()}",
        "PHOENIX_LB_CONFIG_BIND": f"127.0.0.1:{config_port or free_port()}",
        "PHOENIX_LB_OPS_BIND": f"127.0.0.1:{ops_port or free_port()}",
    }
    for role, replicas in (("AUTH", auth), ("CONFIG", config)):
        for number, replica in enumerate(replicas, 1):
            env[f"PHOENIX_LB_{role}_{number}"] = f"127.0.0.1:{replica.port}"
            env[f"PHOENIX_LB_{role}_{number}_OPS_PORT"] = str(replica.ops_port)
    return env


def check(
    env: Mapping[str, str], config_file: Path = CONFIG_FILE
) -> subprocess.CompletedProcess[str]:
    """``haproxy -c -f`` on the file with ``env`` alone (plus PATH): its answer as it came."""
    return subprocess.run(
        ["haproxy", "-c", "-f", str(config_file)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


class HAProxy:
    """The shipped file run by ``haproxy -db`` with ``env`` (see ``environment``)."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
        self.log_path = log_path
        self.process: Process | None = None

    def _url(self, variable: str) -> str:
        return "http://" + self.env[variable]

    @property
    def auth_url(self) -> str:
        return self._url("PHOENIX_LB_AUTH_BIND")

    @property
    def config_url(self) -> str:
        return self._url("PHOENIX_LB_CONFIG_BIND")

    @property
    def ops_url(self) -> str:
        return self._url("PHOENIX_LB_OPS_BIND")

    def start(self, timeout: float = 30) -> HAProxy:
        done = check(self.env)
        if done.returncode != 0:
            raise RuntimeError(f"haproxy -c refused the file:\n{done.stdout}{done.stderr}")
        self.process = Process(
            ["haproxy", "-db", "-f", str(CONFIG_FILE)], env=self.env, cwd=REPO, log=self.log_path
        )
        self.process.wait_ready(
            functools.partial(answers_ok, self.ops_url + "/healthz", 1), timeout, "haproxy"
        )
        return self

    def stop(self) -> int:
        if self.process is None:
            return 0
        code = self.process.stop(grace=10)
        self.process = None
        return code

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def logged(self, marker: str, at_least: int, within: float = 15.0) -> str:
        """The log once ``at_least`` of its lines hold ``marker`` (or ``within`` s have passed).

        HAProxy writes a request's line when the request ends, a moment after the client has
        its answer: a test that reads the log polls for the lines it expects, never sleeps.
        """
        deadline = time.monotonic() + within
        while True:
            log = self.logs()
            if sum(marker in line for line in log.splitlines()) >= at_least:
                return log
            if time.monotonic() > deadline:
                return log
            time.sleep(0.05)

    # ------------------------------------------------------------ its stats page

    def stats(self) -> list[dict[str, str]]:
        """The stats page as CSV rows (``pxname``, ``svname``, ``status``, ``stot``, ...)."""
        answer = httpx.get(self.ops_url + "/stats;csv", timeout=5, trust_env=False)
        answer.raise_for_status()
        text = answer.text.lstrip("# ")
        return list(csv.DictReader(io.StringIO(text)))

    def servers(self) -> dict[tuple[str, str], dict[str, str]]:
        """Each backend's servers by (backend, server)."""
        return {
            (row["pxname"], row["svname"]): row
            for row in self.stats()
            if row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def wait_all_up(self, timeout: float = 60) -> None:
        """Until every server of every backend passes its health check."""

        def all_up() -> bool:
            try:
                servers = self.servers()
            except httpx.HTTPError:
                return False
            return bool(servers) and all(row["status"] == "UP" for row in servers.values())

        try:
            wait_until(all_up, timeout, "haproxy's backends", interval=0.2)
        except TimeoutError as error:
            states = {name: row["status"] for name, row in self.servers().items()}
            raise TimeoutError(f"{error}: {states}\n{self.logs()[-3000:]}") from None
