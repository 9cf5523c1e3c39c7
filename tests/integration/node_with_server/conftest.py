"""phoenix-node against real parts: a real config role (`phoenix serve`, real Postgres and Redis),
the daemon as its own process inside a network namespace, driving wireguard-go through UAPI and
nftables there. The daemon reaches the role through a loopback port forward into the namespace.

These run a server, so they live in the server's tree; daemon/tests tests the daemon alone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from node_harness import wireguard as wg_harness
from node_harness.fixtures import node_ns  # noqa: F401 - a fixture reused as it is
from node_harness.netns import Netns, kill_wireguard_go
from phoenix.config import feed, leases
from phoenix.config.models import Lease
from tests.harness.nodes import mint_sync
from tests.harness.port_forward import PortForward
from tests.harness.processes import RoleServer
from tests.integration.config.conftest import (  # noqa: F401 - fixtures reused as they are
    MONITOR_TOKEN,
    Stores,
    config_server,
    config_settings,
    stores,
)

MONITOR = {"authorization": f"Bearer {MONITOR_TOKEN}"}


class Daemon:
    """``python -m phoenix_node`` (or a built binary) inside ``ns``, logs captured as JSON."""

    def __init__(
        self,
        ns: Netns,
        forward: PortForward,
        log_path: Path,
        command: list[str] | None = None,
        **settings: Any,
    ) -> None:
        self.ns = ns
        self.forward = forward
        self.log_path = log_path
        self.command = command or [sys.executable, "-m", "phoenix_node"]
        self.interface = f"wgn{uuid.uuid4().hex[:8]}"
        self.key_dir = Path("/dev/shm") / f"phoenix-node-{uuid.uuid4().hex[:8]}"
        self.env = {
            "PATH": os.environ["PATH"],
            "PHOENIX_NODE_API_URL": f"http://127.0.0.1:{forward.port}",
            "PHOENIX_NODE_REGION": "de-fra",
            "PHOENIX_NODE_PUBLIC_IP": "192.0.2.1",
            "PHOENIX_NODE_WG_BACKEND": "uapi",
            "PHOENIX_NODE_WG_INTERFACE": self.interface,
            "PHOENIX_NODE_KEY_DIR": str(self.key_dir),
            "PHOENIX_NODE_HEARTBEAT_SECONDS": "0.5",
            "PHOENIX_NODE_POLL_WAIT_SECONDS": "5",
            "PHOENIX_NODE_BACKOFF_MAX_SECONDS": "1",
            "PHOENIX_NODE_MASS_REMOVAL_CONFIRM_SECONDS": "1",
            "PHOENIX_NODE_METRICS_PORT": "0",
            "PHOENIX_NODE_LOG_LEVEL": "debug",
            **{f"PHOENIX_NODE_{k.upper()}": str(v) for k, v in settings.items()},
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        log = self.log_path.open("ab")
        self.process = self.ns.popen(
            self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        return self

    def events(self) -> list[dict[str, Any]]:
        found = []
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                found.append(record)
        return found

    def logged(self, name: str) -> list[dict[str, Any]]:
        return [record for record in self.events() if record.get("event") == name]

    def wait_for(self, name: str, timeout: float = 20, count: int = 1) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.logged(name)
            if len(found) >= count:
                return found[count - 1]
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"daemon exited {self.process.returncode}: {self.text()}")
            time.sleep(0.05)
        raise AssertionError(f"no {name!r} within {timeout}s:\n{self.text()[-4000:]}")

    def text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def peers(self) -> dict[str, frozenset[str]]:
        return {k: p.allowed_ips for k, p in wg_harness.dump(self.ns, self.interface).items()}

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def cleanup(self) -> None:
        self.stop()
        kill_wireguard_go(self.interface)
        shutil.rmtree(self.key_dir, ignore_errors=True)


@pytest.fixture
def forward(node_ns: Netns, config_server: RoleServer) -> Iterator[PortForward]:  # noqa: F811
    made = PortForward(node_ns, config_server.port)
    yield made
    made.close()


@pytest.fixture
def daemon_factory(
    node_ns: Netns,  # noqa: F811
    forward: PortForward,
    tmp_path: Path,
    config_server: RoleServer,  # noqa: F811
) -> Iterator[Any]:
    made: list[Daemon] = []

    def make(**settings: Any) -> Daemon:
        settings.setdefault("enrollment_key", mint_sync(config_server.base_url))
        daemon = Daemon(node_ns, forward, tmp_path / f"node{len(made)}.log", **settings)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.cleanup()


@pytest.fixture
def daemon(daemon_factory: Any) -> Daemon:
    return daemon_factory().start()  # type: ignore[no-any-return]


async def grant(stores: Stores, node_id: str, key: bytes | None = None, **lease: float) -> str:  # noqa: F811
    """A lease for a fresh client key on the node, announced as /v1/connect would; the key.
    ``lease`` (timedelta's arguments) ends it that soon, where a connect's ends on the hour."""
    raw = key or os.urandom(32)
    async with stores.nodedb.begin() as connection:
        done = await leases.allocate(
            connection, uuid.UUID(node_id), raw, timedelta(hours=1), datetime.now(UTC)
        )
        if lease:  # connects' leases end on the hour: a shorter one is set outright
            await connection.execute(
                update(Lease)
                .where(Lease.public_key == raw)
                .values(expires_at=datetime.now(UTC) + timedelta(**lease))
            )
    await feed.publish(stores.redis, done.changes)
    return wg_harness.b64(raw)


async def monitor_post(
    server: RoleServer, path: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        return await client.post(path, json=body, headers=MONITOR)


def monitor_nodes(server: RoleServer) -> list[dict[str, Any]]:
    answer = httpx.get(server.base_url + "/v1/nodes", headers=MONITOR, timeout=10)
    answer.raise_for_status()
    nodes: list[dict[str, Any]] = answer.json()["nodes"]
    return nodes
