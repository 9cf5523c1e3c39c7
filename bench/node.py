"""phoenix-node's peer sync into wireguard-go, against ``wg syncconf`` on the same peer sets.

Both sides drive the same ``wireguard-go`` interface (in a network namespace of the
benchmark's own, through its UAPI socket) from the same starting state, interleaved over
:data:`ROUNDS` rounds; the best round of each is kept.

- **delta apply**: 10,000 peers on the interface; the next set drops 1,000 of them and adds
  1,000 new ones. Ours is the daemon's path (``Agent.reconcile``): the difference to the peers
  it knows it applied, sent as one ``set=1`` transaction. The anchor is ``wg syncconf`` with a
  config file of the next set (it reads the device, diffs, and writes the difference).
- **no-op sync**: the same set again. Ours compares with what it applied and writes nothing; the
  anchor is ``wg syncconf`` with the file of the set already there.
- **initial 10,000 peers** into an empty interface (informational), ours vs ``wg syncconf``.
- **connect → peer on the interface**, p50/p99: a real config role (``phoenix serve``, scratch
  NodeDB, a Redis of the benchmark's own), the daemon as its own process in the namespace; each
  sample commits a lease and announces it as ``/v1/connect`` does (the lease transaction is
  inside the figure), then reads the interface's UAPI socket every millisecond until the key is
  there.
- **daemon RSS with 10,000 peers**: the daemon's resident memory once it holds them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bench.report import Goal, Result
from node_harness.netns import Netns, kill_wireguard_go
from phoenix_node.keys import generate
from phoenix_node.peers import PeerSet, diff, normalise_ips
from phoenix_node.wireguard.uapi import UapiBackend
from tests.harness.port_forward import PortForward

if TYPE_CHECKING:
    from tests.integration.node_with_server.conftest import Daemon

PEERS: Final = 10_000
CHURN: Final = 1_000
ROUNDS: Final = 3
LATENCY_SAMPLES: Final = 50
NODE_PUBLIC_IP: Final = "192.0.2.1"  # the daemon's, in its namespace: config allows it (dev only)


def peer_set(count: int, offset: int) -> PeerSet:
    first = int(ipaddress.IPv4Address("10.64.0.2"))
    return {
        base64.b64encode(os.urandom(32)).decode(): normalise_ips(
            [f"{ipaddress.IPv4Address(first + i + offset)}/32", f"fd00::{i + offset:x}/128"]
        )
        for i in range(count)
    }


def write_conf(path: Path, private_key: bytes, peers: PeerSet) -> None:
    lines = ["[Interface]", f"PrivateKey = {base64.b64encode(private_key).decode()}", ""]
    for key, ips in peers.items():
        lines += ["[Peer]", f"PublicKey = {key}", f"AllowedIPs = {', '.join(sorted(ips))}", ""]
    path.write_text("\n".join(lines))


def syncconf(interface: str, conf: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["wg", "syncconf", interface, str(conf)], check=True)
    return time.perf_counter() - started


@contextlib.contextmanager
def interface() -> Iterator[tuple[Netns, UapiBackend]]:
    ns = Netns("bench")
    name = f"wgb{uuid.uuid4().hex[:8]}"
    try:
        with ns.entered():
            backend = UapiBackend(name)
            yield ns, backend
    finally:
        kill_wireguard_go(name)
        ns.delete()


async def sync_figures(scratch: Path) -> list[Result]:
    key = generate()
    base, added = peer_set(PEERS, 0), peer_set(CHURN, PEERS)
    kept = dict(list(base.items())[CHURN:])
    target = kept | added
    confs = {name: scratch / f"{name}.conf" for name in ("empty", "base", "target")}
    write_conf(confs["empty"], key.private, {})
    write_conf(confs["base"], key.private, base)
    write_conf(confs["target"], key.private, target)
    ours: dict[str, list[float]] = {"delta": [], "noop": [], "initial": []}
    theirs: dict[str, list[float]] = {"delta": [], "noop": [], "initial": []}
    with interface() as (_, backend):
        await backend.ensure(key.private, 0)
        name = backend.interface
        for _ in range(ROUNDS):
            # wg syncconf: empty -> base (initial), base -> target (delta), target -> target.
            syncconf(name, confs["empty"])
            theirs["initial"].append(syncconf(name, confs["base"]))
            theirs["delta"].append(syncconf(name, confs["target"]))
            theirs["noop"].append(syncconf(name, confs["target"]))
            # ours, from the same states, the way Agent.reconcile does it.
            syncconf(name, confs["empty"])
            applied: PeerSet = {}
            started = time.perf_counter()
            await backend.apply(diff(base, applied))
            ours["initial"].append(time.perf_counter() - started)
            applied = dict(base)
            started = time.perf_counter()
            await backend.apply(diff(target, applied))
            applied = dict(target)
            ours["delta"].append(time.perf_counter() - started)
            started = time.perf_counter()
            plan = diff(target, applied)
            await backend.apply(plan)
            ours["noop"].append(time.perf_counter() - started)
            assert plan.empty
            actual = {k: p.allowed_ips for k, p in (await backend.peers()).items()}
            assert actual == target, "the interface does not hold the target set"
    labels = {
        "delta": (f"peer delta apply ({CHURN:,} out, {CHURN:,} in, {PEERS:,} peers)", 1.2),
        "noop": (f"no-op peer sync ({PEERS:,} peers)", 0.1),
        "initial": (f"initial peer apply ({PEERS:,} peers)", None),
    }
    results = []
    for kind, (figure, goal) in labels.items():
        results.append(
            Result(
                figure=figure,
                value=min(ours[kind]) * 1000,
                unit="ms",
                anchor=f"wg syncconf, same sets ({min(theirs[kind]) * 1000:.0f} ms)",
                anchor_value=min(theirs[kind]) * 1000,
                goal=Goal.ratio_at_most(goal) if goal is not None else None,
            )
        )
    return results


def daemon_figures(scratch: Path) -> list[Result]:
    """Connect -> peer on the interface, and the daemon's RSS with 10,000 peers."""
    from bench.config import issuer_directory, own_redis
    from bench.scratch import scratch_database
    from tests.harness.issuer import private_keys
    from tests.harness.nodes import OPERATOR_TOKEN, mint_sync
    from tests.harness.processes import RoleServer
    from tests.integration.node_with_server.conftest import Daemon

    with (
        scratch_database("nodedb", "node") as nodedb_url,
        own_redis() as redis,
        issuer_directory(private_keys(1)) as directory,
    ):
        env = {
            "PHOENIX_ENV": "test",
            "PHOENIX_NODEDB_URL": nodedb_url,
            "PHOENIX_REDIS_URL": redis.url,
            "PHOENIX_OPERATOR_TOKEN": OPERATOR_TOKEN,
            "PHOENIX_MONITOR_TOKEN": "bench-monitor-token-" + "m" * 24,
            "PHOENIX_ISSUER_DIRECTORY_URL": directory.url,
            "PHOENIX_TUNNEL_IPV4_POOL_PREFIX": "17",  # room for 10,000 leases on one node
            # The daemon's address in its namespace (a documentation one), and no other.
            "PHOENIX_NODE_DEV_NETWORKS": f"{NODE_PUBLIC_IP}/32",
        }
        server = RoleServer("config", env, scratch / "config.log").start()
        enrollment_key = mint_sync(server.base_url)  # the operator's, for the one node
        ns = Netns("benchd")
        forward = PortForward(ns, server.port)
        daemon = Daemon(
            ns,
            forward,
            scratch / "node.log",
            log_level="info",
            public_ip=NODE_PUBLIC_IP,
            enrollment_key=enrollment_key,
        )
        try:
            daemon.start()
            node_id = str(daemon.wait_for("register_done")["node_id"])
            daemon.wait_for("sync_live")
            latencies, held = asyncio.run(_daemon_run(daemon, nodedb_url, redis.url, node_id))
            if held < PEERS:
                raise RuntimeError(f"the interface holds {held} peers, not {PEERS}")
            assert daemon.process is not None
            rss = rss_bytes(daemon.process.pid)
        finally:
            daemon.cleanup()
            forward.close()
            ns.delete()
            server.stop()
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return [
        Result(figure="connect -> peer on the interface, p50", value=p50 * 1000, unit="ms"),
        Result(
            figure="connect -> peer on the interface, p99",
            value=p99 * 1000,
            unit="ms",
            goal=Goal.value_at_most(250, "ms"),
        ),
        Result(
            figure=f"daemon RSS with {PEERS:,} peers",
            value=rss / 2**20,
            unit="MB",
            goal=Goal.value_at_most(80, "MB"),
        ),
    ]


class Leases:
    """Leases committed and announced as ``/v1/connect`` does (NodeDB, then the peer feed)."""

    def __init__(self, nodedb_url: str, redis_url: str, node_id: str) -> None:
        from redis.asyncio import Redis

        from phoenix.common.database import create_engine

        self.engine = create_engine(nodedb_url, pool_size=2)
        self.redis = Redis.from_url(redis_url)
        self.node_id = uuid.UUID(node_id)

    async def grant(self, count: int) -> list[str]:
        from phoenix.config import feed, leases

        keys = []
        for start in range(0, count, 500):
            async with self.engine.begin() as connection:
                changes = []
                for _ in range(min(500, count - start)):
                    raw = os.urandom(32)
                    done = await leases.allocate(
                        connection, self.node_id, raw, timedelta(hours=1), datetime.now(UTC)
                    )
                    changes += done.changes
                    keys.append(base64.b64encode(raw).decode())
            await feed.publish(self.redis, changes)
        return keys

    async def close(self) -> None:
        await self.redis.aclose()
        await self.engine.dispose()


async def _daemon_run(
    daemon: Daemon, nodedb_url: str, redis_url: str, node_id: str
) -> tuple[list[float], int]:
    """Connect latencies, then fill the node up to :data:`PEERS`; (latencies, peers held)."""
    made = Leases(nodedb_url, redis_url, node_id)
    reader = UapiBackend(daemon.interface)  # reads the socket; the daemon alone writes
    samples = []
    try:
        await made.grant(1)  # warm the connections
        for _ in range(LATENCY_SAMPLES):
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            [key] = await made.grant(1)
            for _ in range(5000):
                if key in await reader.peers():
                    break
                await asyncio.sleep(0.001)
            samples.append(time.perf_counter() - started)
        await made.grant(PEERS - len(await reader.peers()))
        for _ in range(600):
            if len(await reader.peers()) >= PEERS:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)  # a few heartbeats with the full set
        return samples, len(await reader.peers())
    finally:
        await made.close()


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    kilobytes = next(
        int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
    )
    return kilobytes * 1024


def run() -> Sequence[Result]:
    for tool in ("wireguard-go", "wg", "ip"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is needed (make deps installs it)")
    with tempfile.TemporaryDirectory(prefix="phoenix-bench-node-") as scratch:
        results = asyncio.run(sync_figures(Path(scratch)))
        results += daemon_figures(Path(scratch))
    return results
