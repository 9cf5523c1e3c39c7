"""Config at fleet scale: 10,000 nodes heartbeating and long-polling one config process while
connects run at a steady rate.

The config role (granian, one worker, as in bench config) runs on a scratch NodeDB holding
:data:`NODES` active nodes in :data:`LOCATIONS` locations and :data:`LEASES` unexpired leases,
written straight into the tables (enrolling 10,000 nodes one by one would take minutes and
measure enrollment), and on a Redis of its own. Each simulated node holds its long-poll open on
a connection of its own (``GET /v1/nodes/{id}/peers?since=R&wait=25``, again as soon as one is
answered) and heartbeats every :data:`HEARTBEAT_SECONDS`, its first at a random moment of the
first period; heartbeats share :data:`HEARTBEAT_CONNECTIONS` connections (a daemon's heartbeat
and its poll would be two connections; the server's cost is the waiting poll's). The clients
are a minimal HTTP/1.1 client on asyncio streams, in this process on the other core.

Figures, measured over :data:`MEASURE_SECONDS` after every node's first poll is waiting:

- **connect → change delivered**: :data:`CONNECT_RATE` connects/s with pre-minted tokens to
  random locations; from sending a connect until the poll of the node it landed on answers with
  its key; p99 against 250 ms;
- **Redis connections** of the config process (``CLIENT LIST``, its peak, sampled every
  second) against 8;
- **slowest request** other than a long-poll (heartbeats and connects) against 1 s;
- **config RSS** (its granian worker's, the process holding the app; peak) against 300 MB
  under the load, and
  **at rest** with the nodes and leases in place, before any load, against 150 MB;
- as information, the floor under the first: what granian's worker adds to its RSS for
  :data:`NODES` requests waiting on an ASGI app that does nothing but wait
  (``bench.waiting_asgi``), in the same run.

Heartbeats and connects are timed from when they are written to a connection (a wait for one of
the client's pooled connections is the client's): the server's answer time, as a node with its
own connection sees it.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import gc
import hashlib
import ipaddress
import json
import logging
import multiprocessing
import os
import random
import resource
import secrets
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import psycopg
import redis

from bench.config import (
    _wait_ready,
    issuer_directory,
    mint,
    own_redis,
    server_env,
)
from bench.report import Goal, Result
from bench.scratch import scratch_database
from bench.servers import BenchError, granian_command, placement, running
from phoenix.config.settings import ConfigSettings
from phoenix.config.tokens import challenge
from phoenix.dev.probes import free_port
from phoenix.settings import load
from phoenix_node.agent import heartbeat_pause
from tests.harness.issuer import private_keys

CONFIG_FACTORY: Final = "phoenix.app:app_from_environment"
WAITING_APP: Final = "bench.waiting_asgi:app"
LAG_TICK_SECONDS: Final = 0.05
FLOOR_SAMPLES: Final = 8  # seconds the bare app's waiting requests are sampled
NODES: Final = 10_000
LOCATIONS: Final = 10
LEASES: Final = 100_000
HEARTBEAT_SECONDS: Final = 10
POLL_WAIT_SECONDS: Final = 25
HEARTBEAT_CONNECTIONS: Final = 256
CONNECT_CONNECTIONS: Final = 8
CONNECT_RATE: Final = 20  # per second
MEASURE_SECONDS: Final = 60
SETTLE_SECONDS: Final = 120  # at most, for every node's first poll to be waiting
# A keep-alive connection idle longer is opened again rather than used: the server may have
# closed it meanwhile, and a connect is not a request to send twice.
IDLE_REOPEN_SECONDS: Final = 2.0
POOL_PREFIX: Final = 24  # 16,384 pools in 10.64.0.0/10: room for 10,000 nodes
FIRST_NODE_ADDRESS: Final = ipaddress.IPv4Address("198.51.100.0")  # never contacted

DELIVERY_GOAL: Final = Goal.value_at_most(250, "ms")
REDIS_GOAL: Final = Goal.value_at_most(8, "connections")
SLOWEST_GOAL: Final = Goal.value_at_most(1000, "ms")
RSS_GOAL: Final = Goal.value_at_most(300, "MB")
RSS_AT_REST_GOAL: Final = Goal.value_at_most(150, "MB")

_log = logging.getLogger("bench.fleet")


def _note(text: str) -> None:
    print(f"  {text}", flush=True)


# --------------------------------------------------------------------------------------------
# The fleet, written into NodeDB


class SimNode:
    __slots__ = ("authorization", "node_id")

    def __init__(self, node_id: uuid.UUID, credential: str) -> None:
        self.node_id = node_id
        self.authorization = f"Bearer {credential}".encode()


def write_fleet(nodedb_url: str, settings: ConfigSettings) -> list[SimNode]:
    """NODES active nodes with LEASES leases spread over them, as enrollment and connects leave
    them (pools, next host, revision), in one COPY each."""
    v4 = ipaddress.IPv4Network(settings.tunnel_ipv4_supernet)
    v6 = ipaddress.IPv6Network(settings.tunnel_ipv6_supernet)
    v4_pools = v4.subnets(new_prefix=settings.tunnel_ipv4_pool_prefix)
    v6_pools = v6.subnets(new_prefix=settings.tunnel_ipv6_pool_prefix)
    per_node = LEASES // NODES
    nodes: list[SimNode] = []
    node_rows: list[tuple[Any, ...]] = []
    lease_rows: list[tuple[Any, ...]] = []
    expires = datetime.now(UTC) + timedelta(days=1)
    for index in range(NODES):
        node_id = uuid.uuid4()
        credential = "pnc_" + secrets.token_urlsafe(32)
        location = f"zz-fleet{index % LOCATIONS}"
        pool4, pool6 = next(v4_pools), next(v6_pools)
        node_rows.append(
            (
                node_id, os.urandom(32), location, 51820, "active",
                str(FIRST_NODE_ADDRESS + index % 250 + 256 * (index // 250)), 100_000,
                hashlib.sha256(credential.encode()).digest(), index, str(pool4), str(pool6),
                per_node, 2 + per_node,
            )
        )  # fmt: skip
        for host in range(2, 2 + per_node):
            lease_rows.append(
                (os.urandom(32), node_id, str(pool4[host]), str(pool6[host]), expires)
            )
        nodes.append(SimNode(node_id, credential))
    with psycopg.connect(nodedb_url.replace("+psycopg", "")) as connection:
        with connection.cursor() as cursor:
            with cursor.copy(
                "COPY nodes (id, public_key, location, listen_port, status, public_ip, capacity,"
                " credential_hash, pool_index, ipv4_pool, ipv6_pool, revision, next_host)"
                " FROM STDIN"
            ) as copy:
                for row in node_rows:
                    copy.write_row(row)
            with cursor.copy(
                "COPY leases (public_key, node_id, ipv4, ipv6, expires_at) FROM STDIN"
            ) as copy:
                for row in lease_rows:
                    copy.write_row(row)
        connection.commit()
    return nodes


# --------------------------------------------------------------------------------------------
# A minimal HTTP/1.1 client


class Connection:
    """One keep-alive connection; one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0.0

    async def request(
        self, method: bytes, path: bytes, authorization: bytes, body: bytes = b""
    ) -> tuple[int, bytes]:
        """One exchange; a connection that failed (the server closed an idle one) is dropped
        and the next request opens a new one."""
        try:
            return await self._exchange(method, path, authorization, body)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError):
            if self.writer is not None:
                self.writer.close()
            self.reader = self.writer = None
            raise ConnectionError("the exchange failed") from None

    async def _exchange(
        self, method: bytes, path: bytes, authorization: bytes, body: bytes
    ) -> tuple[int, bytes]:
        if self.writer is not None and time.monotonic() - self.used > IDLE_REOPEN_SECONDS:
            self.writer.close()  # the server may have closed it as idle: a connect is not retried
            self.writer = None
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = b"%s %s HTTP/1.1\r\nHost: config\r\nAuthorization: %s\r\n" % (
            method, path, authorization,
        )  # fmt: skip
        if body:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        self.writer.write(head + b"\r\n" + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed by the server")
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        answer = await self.reader.readexactly(length) if length else b""
        self.used = time.monotonic()  # idle from the end of an answer
        return status, answer


class Pool:
    def __init__(self, host: str, port: int, size: int) -> None:
        self.free: asyncio.Queue[Connection] = asyncio.Queue()
        self.connections = [Connection(host, port) for _ in range(size)]
        for connection in self.connections:
            self.free.put_nowait(connection)

    async def open(self) -> None:
        """Connected before the fleet's 10,000 polls crowd the server's accept queue."""
        for connection in self.connections:
            await connection.request(b"GET", b"/healthz", b"none")

    async def request(self, *args: bytes) -> tuple[int, bytes, float]:
        """The answer, and when the request was sent: a wait here for a free connection is
        the client's, not the server's, and is not timed."""
        connection = await self.free.get()
        try:
            sent = time.perf_counter()
            return (*await connection.request(*args), sent)
        finally:
            self.free.put_nowait(connection)


# --------------------------------------------------------------------------------------------
# The load


class Stats:
    def __init__(self) -> None:
        self.slowest_ms = 0.0
        self.errors: list[str] = []
        self.sent: dict[str, float] = {}  # client key → when its connect was sent
        self.delivered_ms: list[float] = []
        self.waiting: set[uuid.UUID] = set()
        self.answered: set[uuid.UUID] = set()  # nodes whose first poll (a snapshot) came back
        self.beaten: set[uuid.UUID] = set()  # nodes that have heartbeated
        self.measuring = False
        self.answers: dict[str, int] = {"empty": 0, "changes": 0, "snapshot": 0}

    def timed(self, started: float, what: str, status: int) -> None:
        if status != 200:
            self.errors.append(f"{what}: {status}")
        if self.measuring:
            self.slowest_ms = max(self.slowest_ms, (time.perf_counter() - started) * 1000)


HEARTBEAT_BODY: Final = json.dumps(
    {
        "peers": 10, "active_peers": 5, "rx_bytes": 1, "tx_bytes": 1, "cpu": 5.0,
        "load1": 0.1, "mem_used": 20.0, "applied_revision": 0,
    },
    separators=(",", ":"),
).encode()  # fmt: skip


async def poll_forever(node: SimNode, host: str, port: int, stats: Stats) -> None:
    connection = Connection(host, port)
    since = -1
    while True:
        path = f"/v1/nodes/{node.node_id}/peers?since={since}&wait={POLL_WAIT_SECONDS}".encode()
        stats.waiting.add(node.node_id)
        try:
            status, body = await connection.request(b"GET", path, node.authorization)
        except (ConnectionError, OSError) as error:
            stats.errors.append(f"poll: {error}")
            connection = Connection(host, port)
            await asyncio.sleep(1)
            continue
        received = time.perf_counter()
        stats.waiting.discard(node.node_id)
        stats.answered.add(node.node_id)
        if status != 200:
            stats.errors.append(f"poll: {status}")
            await asyncio.sleep(1)
            continue
        feed = json.loads(body)
        since = int(feed["revision"])
        kind = "snapshot" if feed["snapshot"] else "changes" if feed["changes"] else "empty"
        if stats.measuring:
            stats.answers[kind] += 1
        for peer in feed.get("peers") or []:  # a snapshot carries the new peer too
            sent = stats.sent.pop(peer["public_key"], None)
            if sent is not None and stats.measuring:
                stats.delivered_ms.append((received - sent) * 1000)
        for change in feed.get("changes") or []:
            sent = stats.sent.pop(change["public_key"], None)
            if sent is not None and stats.measuring:
                stats.delivered_ms.append((received - sent) * 1000)


async def heartbeat_forever(node: SimNode, pool: Pool, stats: Stats) -> None:
    await asyncio.sleep(random.uniform(0, HEARTBEAT_SECONDS))
    path = f"/v1/nodes/{node.node_id}/heartbeat".encode()
    while True:
        try:
            status, answer, sent = await pool.request(
                b"POST", path, node.authorization, HEARTBEAT_BODY
            )
        except (ConnectionError, OSError) as error:
            stats.errors.append(f"heartbeat: {error}")
        else:
            stats.timed(sent, "heartbeat", status)
            if status == 200:
                stats.beaten.add(node.node_id)
            else:
                stats.errors.append(f"heartbeat answer: {answer[:160]!r}")
        # As phoenix-node pauses: the interval give or take a tenth, so beats drift apart.
        await asyncio.sleep(heartbeat_pause(HEARTBEAT_SECONDS))


async def connect_steadily(pool: Pool, tokens: list[str], stats: Stats, seconds: float) -> int:
    tasks = []
    period = 1 / CONNECT_RATE
    started = time.perf_counter()
    count = int(seconds * CONNECT_RATE)
    for number in range(count):
        await asyncio.sleep(max(0.0, started + number * period - time.perf_counter()))
        tasks.append(asyncio.create_task(_connect(pool, tokens[number], stats)))
    await asyncio.gather(*tasks)
    return count


async def _connect(pool: Pool, token: str, stats: Stats) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    location = f"zz-fleet{random.randrange(LOCATIONS)}"
    body = json.dumps({"location": location, "public_key": key}).encode()
    stats.sent[key] = time.perf_counter()  # delivery is timed from the client's wish
    try:
        status, answer, sent = await pool.request(b"POST", b"/v1/connect", token.encode(), body)
    except (ConnectionError, OSError) as error:
        stats.sent.pop(key, None)
        stats.errors.append(f"connect: {error!r}")
        return
    stats.timed(sent, "connect", status)
    if status != 200:
        stats.sent.pop(key, None)
        stats.errors.append(f"connect answer: {answer[:200]!r}")


# --------------------------------------------------------------------------------------------
# What the config process holds


def group_rss_mb(port: int) -> dict[int, float]:
    """RSS in MB of each granian process serving ``port``: its supervisor and its worker."""
    marker = f"--port\0{port}\0".encode()
    main = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and marker in _read(entry / "cmdline")
    ]
    pids = set(main)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _read(entry / "stat").decode(errors="replace")
            if stat and int(stat.rsplit(")", 1)[1].split()[1]) in main:
                pids.add(int(entry.name))
    found = {}
    for pid in pids:
        for line in _read(Path(f"/proc/{pid}/status")).decode(errors="replace").splitlines():
            if line.startswith("VmRSS:"):
                found[pid] = int(line.split()[1]) / 1024
    return found


def worker_rss_mb(port: int) -> float:
    """The app's process: the larger of the two (the supervisor holds no application state)."""
    return max(group_rss_mb(port).values(), default=0.0)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def redis_connections(client: redis.Redis, own: str) -> int:
    return sum(1 for c in client.client_list() if c["name"] != own)


async def _sample(
    port: int, client: redis.Redis, peaks: dict[str, float], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        peaks["rss"] = max(peaks["rss"], await asyncio.to_thread(worker_rss_mb, port))
        count = await asyncio.to_thread(redis_connections, client, "bench-fleet")
        peaks["redis"] = max(peaks["redis"], count)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1)


# --------------------------------------------------------------------------------------------
# The benchmark


async def _hold_waiting(port: int) -> float:
    """NODES requests waiting on the bare app: the worker's peak RSS while they wait."""
    writers = []
    try:
        for _ in range(NODES):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /wait HTTP/1.1\r\nHost: floor\r\n\r\n")
            writers.append(writer)
        peak = 0.0
        for _ in range(FLOOR_SAMPLES):
            await asyncio.sleep(1)
            peak = max(peak, await asyncio.to_thread(worker_rss_mb, port))
        return peak
    finally:
        for writer in writers:
            writer.close()


def waiting_floor_mb(env: dict[str, str], max_requests: int, cpus: Sequence[int]) -> float:
    """What granian and asyncio alone hold for NODES waiting requests (bench.waiting_asgi):
    the RSS of its worker with them waiting, less at rest."""
    port = free_port()
    command = granian_command(WAITING_APP, port, factory=False, max_requests=max_requests)
    with running(command, port=port, ready_path="/healthz", env=env, cpus=cpus):
        at_rest = worker_rss_mb(port)
        return asyncio.run(_hold_waiting(port)) - at_rest


async def _loop_lag(peaks: dict[str, float], stop: asyncio.Event) -> None:
    """The client's own event-loop lag (a late tick delays every answer it times)."""
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(LAG_TICK_SECONDS)
        late = (time.perf_counter() - before - LAG_TICK_SECONDS) * 1000
        peaks["client_lag_ms"] = max(peaks.get("client_lag_ms", 0.0), late)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run_load(
    host: str, port: int, nodes: list[SimNode], tokens: list[str], redis_url: str
) -> tuple[Stats, dict[str, float], int]:
    stats = Stats()
    heartbeats = Pool(host, port, HEARTBEAT_CONNECTIONS)
    connects = Pool(host, port, CONNECT_CONNECTIONS)
    await heartbeats.open()
    await connects.open()
    tasks = [asyncio.create_task(poll_forever(node, host, port, stats)) for node in nodes]
    tasks += [asyncio.create_task(heartbeat_forever(node, heartbeats, stats)) for node in nodes]
    client = redis.Redis.from_url(redis_url, client_name="bench-fleet")
    peaks = {"rss": 0.0, "redis": 0.0}
    stop = asyncio.Event()
    try:
        deadline = time.monotonic() + SETTLE_SECONDS
        # Every node has its snapshot, is waiting again, and has heartbeated (so selection sees
        # it): the fleet at its steady state, not at its start.
        while not (len(stats.answered) == len(stats.waiting) == len(stats.beaten) == NODES):
            if time.monotonic() > deadline:
                raise BenchError(
                    f"after {SETTLE_SECONDS} s: {len(stats.answered)} snapshots answered, "
                    f"{len(stats.waiting)} polls waiting, {len(stats.beaten)} nodes heartbeated; "
                    f"{len(stats.errors)} errors, first {stats.errors[:3]}"
                )
            await asyncio.sleep(0.5)
        _note(f"all {NODES} polls waiting; measuring {MEASURE_SECONDS} s")
        stats.errors.clear()
        # The client is the instrument: its own collector's pauses over 20,000 tasks would be
        # timed as the server's. Off while measuring (nothing here needs it for a minute).
        gc.collect()
        gc.freeze()
        gc.disable()
        stats.measuring = True
        sampler = asyncio.create_task(_sample(port, client, peaks, stop))
        lag = asyncio.create_task(_loop_lag(peaks, stop))
        sent = await connect_steadily(connects, tokens, stats, MEASURE_SECONDS)
        await asyncio.sleep(2)  # the last deliveries
        stats.measuring = False
        stop.set()
        await sampler
        await lag
        return stats, peaks, sent
    finally:
        gc.enable()
        gc.unfreeze()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        client.close()


def run() -> Sequence[Result]:
    started = time.monotonic()
    where = placement()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = NODES + 1_000  # a socket per poll, in the client and in the server (each its own)
    if hard < wanted:
        raise BenchError(f"needs {wanted} file descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))  # granian inherits it
    keys = private_keys(1)
    tokens_needed = CONNECT_RATE * MEASURE_SECONDS
    context = multiprocessing.get_context("spawn")
    with (
        concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool,
        issuer_directory(keys) as directory,
        own_redis() as spare,
        scratch_database("nodedb", "fleet") as nodedb_url,
    ):
        env = {
            **server_env(nodedb_url, spare.url, directory.url),
            "PHOENIX_TUNNEL_IPV4_POOL_PREFIX": str(POOL_PREFIX),
            "PHOENIX_HEARTBEAT_TTL_SECONDS": str(3 * HEARTBEAT_SECONDS),
            "PHOENIX_NODE_LOST_AFTER": str(6 * HEARTBEAT_SECONDS),
        }
        settings = load(ConfigSettings, env)
        nodes = write_fleet(nodedb_url, settings)
        _note(f"{NODES} nodes in {LOCATIONS} locations and {LEASES} leases written")
        tokens = mint(pool, keys[0], challenge(settings), tokens_needed, 2)
        port = free_port()
        command = granian_command(
            CONFIG_FACTORY, port, factory=True, max_requests=settings.max_requests
        )
        with running(command, port=port, ready_path="/healthz", env=env, cpus=where.server_cpus):
            _wait_ready(f"http://127.0.0.1:{env['PHOENIX_OPS_PORT']}/readyz")
            time.sleep(2)  # its first census and sweep
            processes = group_rss_mb(port)
            at_rest = max(processes.values())
            _note(f"config at rest: worker {at_rest:.0f} MB; granian's processes {processes}")
            if where.load_cpus:
                os.sched_setaffinity(0, where.load_cpus)
            stats, peaks, sent = asyncio.run(run_load("127.0.0.1", port, nodes, tokens, spare.url))
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
        floor = waiting_floor_mb(
            {"PYTHONPATH": env["PYTHONPATH"]}, settings.max_requests, where.server_cpus
        )
        if where.load_cpus:
            os.sched_setaffinity(0, where.load_cpus)
    delivered = stats.delivered_ms
    _note(
        f"{sent} connects, {len(delivered)} delivered to their node's poll; client loop lag "
        f"at most {peaks.get('client_lag_ms', 0.0):.0f} ms; "
        f"errors {len(stats.errors)} {stats.errors[:3]}; poll answers {stats.answers}; "
        f"took {time.monotonic() - started:.0f} s"
    )
    if len(delivered) < sent or stats.errors:
        raise BenchError(f"{sent - len(delivered)} changes undelivered; errors {stats.errors[:5]}")
    return [
        Result(
            figure=f"fleet: connect -> change delivered, {NODES} polls waiting, p99",
            value=round(percentile(delivered, 0.99), 2),
            unit="ms",
            goal=DELIVERY_GOAL,
        ),
        Result(
            figure="fleet: connect -> change delivered, p50",
            value=round(percentile(delivered, 0.50), 2),
            unit="ms",
        ),
        Result(
            figure=f"fleet: config's Redis connections with {NODES} polls waiting (peak)",
            value=peaks["redis"],
            unit="connections",
            goal=REDIS_GOAL,
        ),
        Result(
            figure="fleet: slowest heartbeat or connect under the load",
            value=round(stats.slowest_ms, 1),
            unit="ms",
            goal=SLOWEST_GOAL,
        ),
        Result(
            figure=f"fleet: config RSS under the load (peak, {NODES} nodes)",
            value=round(peaks["rss"], 1),
            unit="MB",
            goal=RSS_GOAL,
        ),
        Result(
            figure="fleet: the client's own event-loop lag while measuring (max)",
            value=round(peaks.get("client_lag_ms", 0.0), 1),
            unit="ms",
        ),
        Result(
            figure=f"fleet: granian alone, {NODES} requests waiting on a bare ASGI app (RSS added)",
            value=round(floor, 1),
            unit="MB",
        ),
        Result(
            figure=f"fleet: config RSS at rest, {NODES} nodes and {LEASES} leases",
            value=round(at_rest, 1),
            unit="MB",
            goal=RSS_AT_REST_GOAL,
        ),
    ]
