"""The config role away for a while: a node keeps serving its peers, keeps asking, and resyncs.

phoenix-node runs as its own process in a network namespace, driving wireguard-go, against the
config role as a process (``tests/integration/node_with_server/conftest.py``). The role the
node talks to is stopped for several seconds while the rest of the control plane goes on
(another config process would: a lease granted and an expired one swept, straight in NodeDB and
the peer feed).
The node's address then leads to a listener of the test's own that counts the node's attempts
and hangs up on each. Asserted: at every sample during the outage the interface holds every
peer it had (it is not flushed), the node keeps trying (several attempts a second, backoff
capped), and once the role is back the change made meanwhile arrives (the new peer added, the
expired one removed) and heartbeats are accepted again.

``tests/integration/node_with_server/test_agent.py`` has the short form (two seconds, one added
peer); this one is longer, removes as well as adds, and watches the interface throughout.

Shown failing once with a planted bug: the agent emptying its desired peers on
``ApiUnavailable`` (``self.desired = {}; await self.reconcile()`` in ``sync_loop``) failed with
"the interface lost peers while the config role was away".
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from types import TracebackType

import pytest

from node_harness.fixtures import node_ns
from node_harness.wireguard import wait_until
from phoenix.config import feed, leases
from tests.harness.port_forward import PortForward
from tests.harness.processes import RoleServer
from tests.integration.config.conftest import Stores, config_server, config_settings, stores
from tests.integration.node_with_server.conftest import (
    Daemon,
    daemon,
    daemon_factory,
    forward,
    grant,
    monitor_nodes,
)

__all__ = [
    "config_server",
    "config_settings",
    "daemon",
    "daemon_factory",
    "forward",
    "node_ns",
    "stores",
]

pytestmark = [pytest.mark.needs_root, pytest.mark.slow]

OUTAGE_SECONDS = 8.0


class HangingUp:
    """A listener on a free loopback port that accepts each connection and closes it at once,
    counting them: where the node's requests go while its config role is away."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            connection.close()

    def __enter__(self) -> HangingUp:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(5)


async def sweep(stores: Stores, node_id: str) -> set[str]:
    """What the lease sweep of another config process does: the node's removed keys."""
    async with stores.nodedb.begin() as connection:
        changes = await leases.sweep_expired(connection, datetime.now(UTC))
    await feed.publish(stores.redis, changes)
    return {c.public_key for c in changes if c.node_id == uuid.UUID(node_id)}


async def test_config_role_down_for_a_while_the_node_keeps_its_peers_retries_and_resyncs(
    daemon: Daemon, config_server: RoleServer, stores: Stores, forward: PortForward
) -> None:
    node_id = str(daemon.wait_for("register_done")["node_id"])
    daemon.wait_for("sync_live")
    staying = {await grant(stores, node_id) for _ in range(8)}
    # Expires once the role is surely down (its graceful stop waits for the long-poll, up to
    # 5 s): a snapshot the role served before would rightly leave an expired lease out.
    expiring, expiry = await grant(stores, node_id, seconds=8), time.monotonic() + 8
    had = staying | {expiring}
    wait_until(lambda: had <= set(daemon.peers()), timeout=3)

    port = config_server.port
    await asyncio.to_thread(config_server.stop)
    with HangingUp() as elsewhere:
        forward.target = elsewhere.port
        daemon.wait_for("sync_api_unreachable", timeout=15)
        daemon.wait_for("heartbeat_failing", timeout=5)
        started, counted = time.monotonic(), elsewhere.accepted
        added = await grant(stores, node_id)  # the rest of the control plane goes on
        await asyncio.sleep(max(0.0, expiry + 0.2 - time.monotonic()))
        assert await sweep(stores, node_id) == {expiring}
        samples = 0
        while time.monotonic() - started < OUTAGE_SECONDS:
            peers = set(daemon.peers())
            assert had <= peers, "the interface lost peers while the config role was away"
            assert added not in peers
            samples += 1
            await asyncio.sleep(0.2)
        attempts = (elsewhere.accepted - counted) / (time.monotonic() - started)
    assert samples >= 20
    assert attempts >= 1.0, f"{attempts:.2f} attempts a second: the node stopped asking"
    assert daemon.process is not None
    assert daemon.process.poll() is None, "the node gave up"

    forward.target = port
    await asyncio.to_thread(config_server.start)
    wait_until(lambda: set(daemon.peers()) == staying | {added}, timeout=10)
    daemon.wait_for("sync_live", count=2)
    daemon.wait_for("heartbeat_ok", count=2, timeout=5)
    [node] = [n for n in monitor_nodes(config_server) if n["id"] == node_id]
    assert node["status"] == "active"
