"""The config role over HTTP: /v1/connect/s, heartbeats/s and connect -> long-poll latency.

The config role's real app (``phoenix.app:app_from_environment`` with PHOENIX_ROLE=config, as
``phoenix serve --role config`` runs it: granian, ASGI, one worker, loop auto, our access log on)
runs against a scratch NodeDB on the local PostgreSQL (created, migrated and dropped afterwards),
a Redis of the benchmark's own on a spare port (no persistence; stopped afterwards) and a static
issuer directory on loopback (:class:`tests.harness.issuer.DirectoryServer`) listing the key the
benchmark's tokens are signed with.

Throughput (the server on one core, ``wrk -t1`` on the other; PostgreSQL and Redis are not
pinned and share both cores with them, so their work counts against both figures):

- **/v1/connect/s**: every request redeems a distinct real type-2 token, minted before the load
  (blind, sign, finalize: about 1 ms each, on every core, overlapped with the setup), with a new
  random WireGuard key, in one location of :data:`NODES` fresh nodes (pools of the default /20,
  about 4,093 leases each). Each answer is a whole redemption: token verification, node
  selection, the spent-token mark in Redis, the lease transaction in NodeDB and the peer-feed
  publication. wrk reads the prepared requests from a file (:data:`LUA_SCRIPT`), each used once
  (more tokens are minted before a load whenever those at hand might not last it); any
  non-2xx answer (a spent token included) fails the benchmark;
- **heartbeats/s**: the same nodes' heartbeats in turn, each with its node credential (the node
  record, reused for a second as in production, the hash check and the Redis SET with TTL);
- the **anchors** of their goals: the same work done plainly (:mod:`bench.plain_config`: one
  sequential await after another on the same libraries — verify, SET NX, one lease transaction,
  XADD; read the body, one SET), under the same granian command on :data:`NODES` nodes of their
  own, loaded by the same wrk (same threads, connections and durations);
- as information, the hello-world Litestar route (:mod:`bench.hello`), loaded the same way
  (the config issue's goals were set against it; it measures nothing the code controls).

The config role's own ``/healthz`` is loaded the same way, as information: it is the cheapest
route through the role's whole stack (access log, metrics, problem handlers, compression), so
it bounds every endpoint's figure from above, and heartbeats and connects are also reported
against it. So are two floors served by the hello-world app itself (:mod:`bench.hello`): a
POST that reads and decodes the same heartbeat JSON body (no handler with a body does less),
and one that also stores it with a Redis SET of its own (the benchmark's Redis): a round trip
per request, which the role's heartbeats share between concurrent requests
(phoenix.config.hotpath.coalesce) and so may beat. The six loads run in :data:`ROUNDS`
interleaved rounds of :data:`MEASURE_SECONDS` after one warm-up each; the best round of each is kept
(background load only ever hurts). Leases accumulate over the rounds, so the last connect round
allocates in fuller pools.

Latency: a node alone in its own location holds a long-poll (``GET /v1/nodes/{id}/peers?since=R
&wait=10``) that is waiting (the benchmark sees the poll take its number in its own Redis:
config registers it with its notifier right after), then a connect for that location is sent;
the figure is the time from sending the connect until the long-poll's answer (which must carry
that very key) arrives, over :data:`LATENCY_SAMPLES` sequential tries, from an httpx client in
this process. Its anchor is the connect's own answer time in the same tries: a ratio near 1
means delivery adds nothing to it.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import functools
import ipaddress
import json
import logging
import math
import multiprocessing
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import httpx
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from redis.asyncio import Redis

from bench import hello, plain_config
from bench.report import Goal, Result, format_table
from bench.scratch import scratch_database
from bench.servers import (
    BenchError,
    Placement,
    WrkResult,
    free_port,
    granian_command,
    placement,
    running,
    wrk,
)
from phoenix.config.hotpath.notifier import POLL_SEQUENCE_PREFIX
from phoenix.config.settings import ConfigSettings
from phoenix.config.tokens import challenge
from phoenix.crypto import nodeproof
from phoenix.crypto.privacypass.headers import build_authorization
from phoenix.crypto.privacypass.structures import TokenChallenge
from phoenix.crypto.wireguard import generate_keypair
from phoenix.settings import load
from tests.harness.issuer import DirectoryServer, mint_tokens, private_keys
from tests.harness.processes import SpareRedis

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
CONFIG_FACTORY: Final = "phoenix.app:app_from_environment"
HELLO_FACTORY: Final = "bench.hello:create_app"
PLAIN_FACTORY: Final = "bench.plain_config:create_app"

LOCATION: Final = "zz-bench"  # the throughput nodes
LATENCY_LOCATION: Final = "zz-latency"  # one node alone, so every connect lands on it
PLAIN_LOCATION: Final = "zz-plain"  # the plain reference's nodes: pools of their own
NODES: Final = 8
NODE_CAPACITY: Final = 100_000  # the most a node may declare: capacity is never the limit
# Longer than the whole benchmark, so no node goes stale (or "lost", PHOENIX_NODE_LOST_AFTER)
# between its heartbeats; each beat still sets its key with this TTL, as in production.
HEARTBEAT_TTL_SECONDS: Final = 300
# Nodes enroll as in production: single-use keys the operator mints (at most this many per call),
# a challenge, and the proof of the node's key (phoenix.crypto.nodeproof). Their public addresses
# are global unicast, as config requires, and never contacted: registration only records them.
KEYS_PER_MINT: Final = 100
FIRST_NODE_ADDRESS: Final = ipaddress.IPv4Address("203.0.114.1")

WRK_THREADS: Final = 1
WRK_CONNECTIONS: Final = 16
WRK_TIMEOUT_SECONDS: Final = 5
WARMUP_SECONDS: Final = 1
MEASURE_SECONDS: Final = 4
ROUNDS: Final = 2
# Tokens minted for the connect loads before any load (each request spends one): enough for
# the warm-up, which may also end early when they run out. Before every connect load more are
# minted if those at hand would not last TOKEN_MARGIN times the fastest connect rate seen so far
# (rounds on a busy machine vary by a half); a measured load that runs out all the same is
# made again with more (no token is ever sent twice: ONCE_SCRIPT).
CONNECT_TOKENS: Final = 6_000  # half for the role, half for the plain reference
TOKEN_MARGIN: Final = 2.0
LATENCY_WARMUP: Final = 5
LATENCY_SAMPLES: Final = 100
LONG_POLL_WAIT_SECONDS: Final = 10
BLOCKED_TIMEOUT_SECONDS: Final = 5.0

ANCHOR: Final = "hello-world Litestar route req/s on the same server"
CONNECT_FIGURE: Final = "config: /v1/connect/s with pre-minted tokens"
HEARTBEAT_FIGURE: Final = "config: heartbeats/s"
DELIVERY_FIGURE: Final = "config: connect -> change delivered to a waiting long-poll"
DELIVERY_ANCHOR: Final = "/v1/connect answered, same tries"
PLAIN_CONNECT_ANCHOR: Final = "plain connect req/s on the same server (bench.plain_config)"
PLAIN_HEARTBEAT_ANCHOR: Final = "plain heartbeat req/s on the same server (bench.plain_config)"
CONNECT_GOAL: Final = Goal.ratio_at_least(1.5)
HEARTBEAT_GOAL: Final = Goal.ratio_at_least(1.2)
DELIVERY_GOAL: Final = Goal.value_at_most(250, "ms")

# wrk: ``-s LUA_SCRIPT <url> -- <file> <first> <count>`` sends lines first .. first+count-1 of
# the file in turn, each line "METHOD<TAB>path<TAB>Authorization<TAB>JSON body". Every request
# is formatted once per wrk thread, before the load; per request, Lua only hands out the next.
# The lines go round again; under :data:`ONCE_SCRIPT` (each line a token that can be spent
# once) a load that has sent them all asks for /healthz instead and stops at the next answer,
# so it ends early rather than resending spent tokens (TokenCursor.used notices).
LUA_SCRIPT: Final = """\
local requests = {}
local next_request = 0
local once = false
local exhausted = false
local after_last

function init(args)
  local path, first, count = args[1], tonumber(args[2]), tonumber(args[3])
  once = response ~= nil  -- ONCE_SCRIPT defines it
  after_last = wrk.format("GET", "/healthz")
  local number = 0
  for line in io.lines(path) do
    number = number + 1
    if number >= first and number < first + count then
      local method, target, authorization, body =
        line:match("^([^\\t]+)\\t([^\\t]+)\\t([^\\t]+)\\t(.*)$")
      requests[#requests + 1] = wrk.format(method, target, {
        ["Content-Type"] = "application/json",
        ["Authorization"] = authorization,
      }, body)
    end
  end
  if #requests == 0 then
    error("no requests in lines " .. first .. " to " .. (first + count - 1) .. " of " .. path)
  end
end

function request()
  if once and next_request >= #requests then
    exhausted = true
    return after_last
  end
  next_request = next_request % #requests + 1
  return requests[next_request]
end

"""
# The script for "once": wrk hands answers to Lua (and parses their headers for it, a few
# per cent of the load's pace) only when the script has a response() at load time.
ONCE_SCRIPT: Final = (
    LUA_SCRIPT
    + """
function response(status, headers, body)
  if exhausted then
    wrk.thread:stop()
  end
end
"""
)


def _note(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def wg_key() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


def heartbeat_body(active_peers: int = 0) -> dict[str, Any]:
    return {
        "peers": active_peers,
        "active_peers": active_peers,
        "rx_bytes": 0,
        "tx_bytes": 0,
        "cpu": 5.0,
        "load1": 0.1,
        "mem_used": 20.0,
        "applied_revision": 0,
    }


# --------------------------------------------------------------------------------------------
# Scratch stores: a NodeDB and a Redis of our own


@contextlib.contextmanager
def own_redis() -> Iterator[SpareRedis]:
    """``redis-server --port <spare> --save "" --appendonly no``, stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="phoenix-bench-redis-") as tmp:
        redis = SpareRedis(Path(tmp))
        if not redis.available():
            raise BenchError("redis-server is not installed (Debian package `redis-server`)")
        try:
            redis.start()
            yield redis
        finally:
            redis.stop()


@contextlib.contextmanager
def issuer_directory(keys: tuple[rsa.RSAPrivateKey, ...]) -> Iterator[DirectoryServer]:
    server = DirectoryServer(keys)
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------------------------
# Tokens, minted on every core


def _mint_chunk(key_pem: bytes, token_challenge: TokenChallenge, count: int) -> list[str]:
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return [build_authorization(raw) for raw in mint_tokens(key, token_challenge, count)]


def start_minting(
    pool: concurrent.futures.Executor,
    key: rsa.RSAPrivateKey,
    token_challenge: TokenChallenge,
    count: int,
    chunks: int,
) -> list[concurrent.futures.Future[list[str]]]:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    sizes = [count // chunks + (1 if index < count % chunks else 0) for index in range(chunks)]
    return [pool.submit(_mint_chunk, key_pem, token_challenge, size) for size in sizes if size]


def mint(
    pool: concurrent.futures.Executor,
    key: rsa.RSAPrivateKey,
    token_challenge: TokenChallenge,
    count: int,
    chunks: int,
) -> list[str]:
    futures = start_minting(pool, key, token_challenge, count, chunks)
    return [header for future in futures for header in future.result()]


# --------------------------------------------------------------------------------------------
# The servers and the fleet


def server_env(nodedb_url: str, redis_url: str, directory_url: str) -> dict[str, str]:
    pythonpath = os.pathsep.join(
        part for part in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if part
    )
    return {
        "PYTHONPATH": pythonpath,
        "PHOENIX_ROLE": "config",
        "PHOENIX_ENV": "test",
        "PHOENIX_NODEDB_URL": nodedb_url,
        "PHOENIX_REDIS_URL": redis_url,
        "PHOENIX_OPERATOR_TOKEN": "bench-operator-token-" + secrets.token_urlsafe(32),
        "PHOENIX_MONITOR_TOKEN": "bench-monitor-token-" + secrets.token_urlsafe(32),
        "PHOENIX_ISSUER_DIRECTORY_URL": directory_url,
        "PHOENIX_HEARTBEAT_TTL_SECONDS": str(HEARTBEAT_TTL_SECONDS),
        "PHOENIX_NODE_LOST_AFTER": str(HEARTBEAT_TTL_SECONDS),
        # /readyz is on the ops listener, here on a port of its own (not the role's default).
        "PHOENIX_OPS_PORT": str(free_port()),
    }


def _wait_ready(url: str) -> None:
    """Until the role's readiness (on its ops port) answers 200: its dependencies are up."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1, trust_env=False).status_code == 200:
                return
        time.sleep(0.1)
    raise BenchError(f"the config role did not become ready ({url})")


class Node(msgspec.Struct, frozen=True):
    node_id: str
    credential: str

    @property
    def authorization(self) -> str:
        return f"Bearer {self.credential}"

    @property
    def heartbeat_path(self) -> str:
        return f"/v1/nodes/{self.node_id}/heartbeat"


def _checked(answer: httpx.Response, status: int = 200) -> Any:
    if answer.status_code != status:
        raise BenchError(f"{answer.request.url} answered {answer.status_code}: {answer.text}")
    return answer.json()


def enrollment_keys(
    client: httpx.Client, operator_token: str, location: str, count: int
) -> list[str]:
    """``count`` single-use keys for ``location``, in as few operator calls as allowed."""
    keys: list[str] = []
    while len(keys) < count:
        made = _checked(
            client.post(
                "/v1/admin/enrollment-keys",
                json={"location": location, "count": min(KEYS_PER_MINT, count - len(keys))},
                headers={"authorization": f"Bearer {operator_token}"},
            ),
            201,
        )
        keys += made["keys"]
    return keys


def register_fleet(
    client: httpx.Client, operator_token: str, location: str, count: int, first: int = 0
) -> list[Node]:
    """``count`` nodes enrolled in ``location``, each having sent its first heartbeat; ``first``
    numbers their public addresses."""
    keys = enrollment_keys(client, operator_token, location, count)
    return [register_node(client, key, location, first + n) for n, key in enumerate(keys)]


def register_node(client: httpx.Client, enrollment_key: str, location: str, number: int) -> Node:
    private, public = generate_keypair()
    public_ip, listen_port = str(FIRST_NODE_ADDRESS + number), 51820
    asked = _checked(client.post("/v1/nodes/challenge"), 201)
    mac = nodeproof.prove(
        private,
        public,
        base64.b64decode(asked["nonce"]),
        base64.b64decode(asked["server_key"]),
        nodeproof.Claims(location, public_ip, listen_port),
    )
    body = {
        "public_ip": public_ip,
        "public_key": base64.b64encode(public).decode("ascii"),
        "location": location,
        "listen_port": listen_port,
        "capacity": NODE_CAPACITY,
        "proof": {"nonce": asked["nonce"], "mac": base64.b64encode(mac).decode("ascii")},
    }
    made = _checked(
        client.post(
            "/v1/nodes/register", json=body, headers={"authorization": f"Bearer {enrollment_key}"}
        ),
        201,
    )
    node = Node(str(made["node_id"]), str(made["node_credential"]))
    _checked(
        client.post(
            node.heartbeat_path,
            json=heartbeat_body(),
            headers={"authorization": node.authorization},
        )
    )
    return node


# --------------------------------------------------------------------------------------------
# Load: wrk with prepared requests


def request_line(method: str, path: str, authorization: str, body: Mapping[str, Any]) -> str:
    text = json.dumps(body, separators=(",", ":"))
    fields = (method, path, authorization, text)
    if any("\t" in field or "\n" in field for field in fields):
        raise BenchError("a prepared request may hold no tab or newline")
    return "\t".join(fields) + "\n"


def write_lines(path: Path, lines: Sequence[str]) -> None:
    path.touch(mode=0o600)  # it holds credentials and unspent tokens
    path.write_text("".join(lines), encoding="utf-8")


def run_wrk(
    url: str,
    *,
    seconds: int,
    cpus: Sequence[int],
    script: Path | None = None,
    data: Sequence[object] = (),
) -> WrkResult:
    """wrk as every load here runs it, with ``script`` fed ``data`` (file, first line, count)."""
    return wrk(
        url,
        seconds=seconds,
        connections=WRK_CONNECTIONS,
        threads=WRK_THREADS,
        cpus=cpus,
        script=script,
        script_args=[str(part) for part in data],
        timeout_seconds=WRK_TIMEOUT_SECONDS,
    )


class TokenCursor:
    """Which prepared connect line comes next; every load skips what the last one may have
    sent (answered requests, one more per connection in flight when wrk stopped, errors)."""

    def __init__(self, path: Path, location: str) -> None:
        self.path = path
        self.location = location
        self.count = 0
        self.next_line = 1

    def add(self, authorizations: Sequence[str]) -> None:
        """Append a connect request (a new random WireGuard key) for each token."""
        lines = [
            request_line(
                "POST",
                "/v1/connect",
                authorization,
                {"location": self.location, "public_key": wg_key()},
            )
            for authorization in authorizations
        ]
        if self.count == 0:
            write_lines(self.path, lines)
        else:
            with self.path.open("a", encoding="utf-8") as file:
                file.write("".join(lines))
        self.count += len(lines)

    @property
    def left(self) -> int:
        return self.count - self.next_line + 1

    def take(self) -> tuple[Path, int, int]:
        if self.left <= WRK_CONNECTIONS:
            raise BenchError("out of pre-minted tokens")
        return self.path, self.next_line, self.left

    def used(self, result: WrkResult) -> bool:
        """Skip what the load may have sent; True if it sent every line it had (it stopped
        early then, and its rate understates the pace: :data:`ONCE_SCRIPT`)."""
        # wrk never resends a line (ONCE_SCRIPT): every answered request but the /healthz ones
        # after the last line spent a token of its own.
        had = self.left
        self.next_line += result.requests + WRK_CONNECTIONS + result.socket_errors
        # Lines sent while the thread stopped were never answered: up to one per connection.
        return result.requests + result.socket_errors + WRK_CONNECTIONS >= had


class Throughput(msgspec.Struct, frozen=True):
    hello: list[WrkResult]
    healthz: list[WrkResult]
    heartbeats: list[WrkResult]
    connects: list[WrkResult]
    body_floor: list[WrkResult]
    redis_floor: list[WrkResult]
    plain_heartbeats: list[WrkResult]
    plain_connects: list[WrkResult]
    checked_heartbeats: list[WrkResult]


def measure_throughput(
    config_url: str,
    hello_url: str,
    plain_url: str,
    nodes: Sequence[Node],
    authorizations: Sequence[str],
    mint: Callable[[int], list[str]],
    where: Placement,
    tmp: Path,
) -> Throughput:
    """Warm-ups, then ROUNDS interleaved rounds; ``mint(n)`` makes more tokens whenever those at
    hand might not last (with a margin) through the next connect load."""
    script = tmp / "requests.lua"
    script.write_text(LUA_SCRIPT, encoding="utf-8")
    once_script = tmp / "once.lua"
    once_script.write_text(ONCE_SCRIPT, encoding="utf-8")
    beats = tmp / "heartbeats.tsv"
    write_lines(
        beats,
        [
            request_line("POST", node.heartbeat_path, node.authorization, heartbeat_body())
            for node in nodes
        ],
    )
    checked = tmp / "checked-heartbeats.tsv"
    write_lines(
        checked,
        [
            request_line(
                "POST",
                node.heartbeat_path.replace("/heartbeat", plain_config.CHECKED_HEARTBEAT),
                node.authorization,
                heartbeat_body(),
            )
            for node in nodes
        ],
    )
    floors = tmp / "floors.tsv"
    write_lines(
        floors,
        [
            request_line("POST", path, "Bearer floor", heartbeat_body())
            for path in (hello.BODY_PATH, hello.REDIS_PATH)
        ],
    )
    cursor = TokenCursor(tmp / "connects.tsv", LOCATION)
    cursor.add(authorizations[: len(authorizations) // 2])
    plain_cursor = TokenCursor(tmp / "plain-connects.tsv", PLAIN_LOCATION)
    plain_cursor.add(authorizations[len(authorizations) // 2 :])
    beat_data = (beats, 1, len(nodes))
    load = where.load_cpus

    def hello_load(seconds: int) -> WrkResult:
        return run_wrk(hello_url + hello.PATH, seconds=seconds, cpus=load)

    def body_floor_load(seconds: int) -> WrkResult:
        return run_wrk(hello_url, seconds=seconds, cpus=load, script=script, data=(floors, 1, 1))

    def redis_floor_load(seconds: int) -> WrkResult:
        return run_wrk(hello_url, seconds=seconds, cpus=load, script=script, data=(floors, 2, 1))

    def healthz_load(seconds: int) -> WrkResult:
        return run_wrk(config_url + "/healthz", seconds=seconds, cpus=load)

    def heartbeat_load(seconds: int) -> WrkResult:
        return run_wrk(config_url, seconds=seconds, cpus=load, script=script, data=beat_data)

    def plain_heartbeat_load(seconds: int) -> WrkResult:
        return run_wrk(plain_url, seconds=seconds, cpus=load, script=script, data=beat_data)

    def checked_heartbeat_load(seconds: int) -> WrkResult:
        data = (checked, 1, len(nodes))
        return run_wrk(plain_url, seconds=seconds, cpus=load, script=script, data=data)

    def connect_load(seconds: int) -> WrkResult:
        return connects(config_url, cursor, seconds)

    def plain_connect_load(seconds: int) -> WrkResult:
        return connects(plain_url, plain_cursor, seconds)

    fastest = [0.0]

    def connects(url: str, cursor: TokenCursor, seconds: int) -> WrkResult:
        while True:
            needed = math.ceil(TOKEN_MARGIN * fastest[0] * seconds) + 2 * WRK_CONNECTIONS
            if needed > cursor.left:
                started = time.monotonic()
                cursor.add(mint(needed - cursor.left))
                _note(
                    f"at up to {fastest[0]:,.0f} connects/s: minted tokens up to "
                    f"{cursor.count} in {time.monotonic() - started:.1f} s"
                )
            path, first, count = cursor.take()
            result = run_wrk(
                url,
                seconds=seconds,
                cpus=load,
                script=once_script,
                data=(path, first, count),
            )
            ran_out = cursor.used(result)
            fastest[0] = max(fastest[0], result.requests_per_second)
            if not ran_out or seconds == WARMUP_SECONDS:
                return result
            # Its rate is only a lower bound of the pace: it went at least twice as fast.
            fastest[0] *= 2
            _note(f"a connect load ran out of tokens after {result.requests}: once more")

    loads = {
        "hello": hello_load,
        "body floor": body_floor_load,
        "redis floor": redis_floor_load,
        "healthz": healthz_load,
        "heartbeats": heartbeat_load,
        "connects": connect_load,
        "plain heartbeats": plain_heartbeat_load,
        "plain connects": plain_connect_load,
        "plain checked heartbeats": checked_heartbeat_load,
    }
    for load_once in loads.values():
        load_once(WARMUP_SECONDS)
    rounds: dict[str, list[WrkResult]] = {name: [] for name in loads}
    for _ in range(ROUNDS):
        for name, load_once in loads.items():
            result = load_once(MEASURE_SECONDS)
            rounds[name].append(result)
            _note(
                f"{name}: {result.requests_per_second:,.1f} req/s "
                f"({result.requests} in {result.seconds:.2f} s), "
                f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms"
            )
    for name, used in (("role", cursor), ("plain", plain_cursor)):
        _note(f"{name} connect tokens used (at most): {used.next_line - 1} of {used.count}")
    return Throughput(
        rounds["hello"],
        rounds["healthz"],
        rounds["heartbeats"],
        rounds["connects"],
        rounds["body floor"],
        rounds["redis floor"],
        rounds["plain heartbeats"],
        rounds["plain connects"],
        rounds["plain checked heartbeats"],
    )


# --------------------------------------------------------------------------------------------
# Latency: connect -> waiting long-poll


async def _poll_sequence(redis: Redis, node: Node) -> int:
    return int(await redis.get(f"{POLL_SEQUENCE_PREFIX}{node.node_id}") or 0)


async def _wait_until_waiting(
    redis: Redis, node: Node, before: int, poll: asyncio.Task[Any]
) -> None:
    """Until the poll took its number (config registers it with its notifier right after)."""
    deadline = time.monotonic() + BLOCKED_TIMEOUT_SECONDS
    while True:
        if await _poll_sequence(redis, node) > before:
            return
        if poll.done():
            raise BenchError(f"the long-poll answered before any change: {poll.result()}")
        if time.monotonic() > deadline:
            raise BenchError("the long-poll never started waiting")
        await asyncio.sleep(0.001)


class Sample(msgspec.Struct, frozen=True):
    delivered_ms: float  # connect sent -> long-poll answer received
    answered_ms: float  # connect sent -> connect answer received


async def _one_delivery(
    client: httpx.AsyncClient, redis: Redis, node: Node, since: int, authorization: str
) -> tuple[Sample, int]:
    key = wg_key()
    received: list[float] = []

    async def poll() -> Any:
        answer = await client.get(
            f"/v1/nodes/{node.node_id}/peers",
            params={"since": since, "wait": LONG_POLL_WAIT_SECONDS},
            headers={"authorization": node.authorization},
        )
        received.append(time.perf_counter())
        return _checked(answer)

    before = await _poll_sequence(redis, node)
    waiting = asyncio.create_task(poll())
    try:
        await _wait_until_waiting(redis, node, before, waiting)
        sent = time.perf_counter()
        answer = await client.post(
            "/v1/connect",
            json={"location": LATENCY_LOCATION, "public_key": key},
            headers={"authorization": authorization},
        )
        answered = time.perf_counter()
        _checked(answer)
        feed = await waiting
    finally:
        if not waiting.done():
            waiting.cancel()
    changes = feed["changes"]
    if feed["snapshot"] or [c["public_key"] for c in changes] != [key]:
        raise BenchError(f"the long-poll did not deliver the new peer alone: {feed}")
    sample = Sample((received[0] - sent) * 1000, (answered - sent) * 1000)
    return sample, int(feed["revision"])


async def _deliveries(
    base_url: str, redis_url: str, node: Node, authorizations: Sequence[str]
) -> list[Sample]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as client:
            first = await client.get(
                f"/v1/nodes/{node.node_id}/peers",
                params={"since": -1, "wait": 0},
                headers={"authorization": node.authorization},
            )
            since = int(_checked(first)["revision"])
            samples = []
            for authorization in authorizations:
                sample, since = await _one_delivery(client, redis, node, since, authorization)
                samples.append(sample)
            return samples
    finally:
        await redis.aclose()


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least ``fraction`` of the values at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class Latency(msgspec.Struct, frozen=True):
    delivered_p50: float
    delivered_p99: float
    answered_p50: float
    answered_p99: float


def measure_latency(
    base_url: str, redis_url: str, node: Node, authorizations: Sequence[str]
) -> Latency:
    samples = asyncio.run(_deliveries(base_url, redis_url, node, authorizations))
    measured = samples[LATENCY_WARMUP:]
    delivered = [s.delivered_ms for s in measured]
    answered = [s.answered_ms for s in measured]
    latency = Latency(
        delivered_p50=percentile(delivered, 0.5),
        delivered_p99=percentile(delivered, 0.99),
        answered_p50=percentile(answered, 0.5),
        answered_p99=percentile(answered, 0.99),
    )
    _note(
        f"latency over {len(measured)} sequential connects (after {LATENCY_WARMUP} warm-up): "
        f"delivered p50 {latency.delivered_p50:.2f} ms, p99 {latency.delivered_p99:.2f} ms, "
        f"max {max(delivered):.2f} ms; connect answered p50 {latency.answered_p50:.2f} ms, "
        f"p99 {latency.answered_p99:.2f} ms"
    )
    return latency


# --------------------------------------------------------------------------------------------
# The benchmark


def results(throughput: Throughput, latency: Latency) -> list[Result]:
    def best(rounds: Sequence[WrkResult]) -> float:
        return round(max(r.requests_per_second for r in rounds), 1)

    anchor = best(throughput.hello)
    own = best(throughput.healthz)
    redis_floor = best(throughput.redis_floor)
    connects, heartbeats = best(throughput.connects), best(throughput.heartbeats)
    load = f"wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS}"
    return [
        # The goals: the same work done plainly (bench.plain_config), served the same way.
        Result(
            figure=f"{CONNECT_FIGURE} against the plain connect ({load}, {NODES} nodes each)",
            value=connects,
            unit="req/s",
            anchor=PLAIN_CONNECT_ANCHOR,
            anchor_value=best(throughput.plain_connects),
            goal=CONNECT_GOAL,
        ),
        Result(
            figure=f"{HEARTBEAT_FIGURE} against the plain heartbeat ({load}, {NODES} nodes)",
            value=heartbeats,
            unit="req/s",
            anchor=PLAIN_HEARTBEAT_ANCHOR,
            anchor_value=best(throughput.plain_heartbeats),
            goal=HEARTBEAT_GOAL,
        ),
        # What the heartbeat goal is made of: the plain heartbeat plus what every heartbeat of
        # the role must also do (the node's credential check, the access log and metrics).
        Result(
            figure=(
                "floor: the plain heartbeat plus the role's credential check, access log and "
                f"metrics ({load})"
            ),
            value=best(throughput.checked_heartbeats),
            unit="req/s",
            anchor=PLAIN_HEARTBEAT_ANCHOR,
            anchor_value=best(throughput.plain_heartbeats),
        ),
        Result(
            figure=f"{HEARTBEAT_FIGURE} against that checked plain heartbeat ({load})",
            value=heartbeats,
            unit="req/s",
            anchor="plain heartbeat + credential check + access log and metrics req/s",
            anchor_value=best(throughput.checked_heartbeats),
        ),
        # Information, on the same server: the hello-world app reading a JSON body (the floor
        # under any route with a body), and also storing it with a Redis SET of its own.
        Result(
            figure=f"floor: hello-world POST reading a JSON body ({load})",
            value=best(throughput.body_floor),
            unit="req/s",
            anchor=ANCHOR,
            anchor_value=anchor,
        ),
        Result(
            figure=f"floor: the same POST plus one Redis SET ({load})",
            value=redis_floor,
            unit="req/s",
            anchor=ANCHOR,
            anchor_value=anchor,
        ),
        Result(
            figure=f"config: heartbeats/s against that POST + SET ({load})",
            value=best(throughput.heartbeats),
            unit="req/s",
            anchor="hello-world POST + one Redis SET req/s on the same server",
            anchor_value=redis_floor,
        ),
        # Information: what the role's whole stack (access log, metrics, problem handlers,
        # compression) answers for its cheapest route — the ceiling of any of its endpoints.
        Result(
            figure=f"config: /healthz req/s, the role's own stack ({load})",
            value=own,
            unit="req/s",
            anchor=ANCHOR,
            anchor_value=anchor,
        ),
        Result(
            figure=f"config: heartbeats/s against the role's own /healthz ({load})",
            value=best(throughput.heartbeats),
            unit="req/s",
            anchor="config /healthz req/s on the same server",
            anchor_value=own,
        ),
        Result(
            figure=f"config: /v1/connect/s against the role's own /healthz ({load})",
            value=best(throughput.connects),
            unit="req/s",
            anchor="config /healthz req/s on the same server",
            anchor_value=own,
        ),
        # Information: against the hello-world GET (the goals of the config issue, replaced
        # by the two above: that anchor does not measure what the code controls).
        Result(
            figure=f"{CONNECT_FIGURE} ({load}, {NODES} nodes)",
            value=connects,
            unit="req/s",
            anchor=ANCHOR,
            anchor_value=anchor,
        ),
        Result(
            figure=f"{HEARTBEAT_FIGURE} ({load}, {NODES} nodes)",
            value=heartbeats,
            unit="req/s",
            anchor=ANCHOR,
            anchor_value=anchor,
        ),
        Result(
            figure=f"{DELIVERY_FIGURE}, p50",
            value=round(latency.delivered_p50, 3),
            unit="ms",
            anchor=f"{DELIVERY_ANCHOR}, p50",
            anchor_value=round(latency.answered_p50, 3),
        ),
        Result(
            figure=f"{DELIVERY_FIGURE}, p99",
            value=round(latency.delivered_p99, 3),
            unit="ms",
            anchor=f"{DELIVERY_ANCHOR}, p99",
            anchor_value=round(latency.answered_p99, 3),
            goal=DELIVERY_GOAL,
        ),
    ]


def run() -> Sequence[Result]:
    started = time.monotonic()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per setup/latency request
    where = placement()
    tokens_needed = CONNECT_TOKENS + LATENCY_WARMUP + LATENCY_SAMPLES
    processes = max(1, len(os.sched_getaffinity(0)))
    _note(
        f"granian 1 worker for the config role and the hello-world route; wrk -t{WRK_THREADS} "
        f"-c{WRK_CONNECTIONS}, {ROUNDS} interleaved rounds of {MEASURE_SECONDS} s after a "
        f"{WARMUP_SECONDS} s warm-up, best round kept; {where.describe()}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    keys = private_keys(1)
    context = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory(prefix="phoenix-bench-config-") as tmp_name,
        concurrent.futures.ProcessPoolExecutor(processes, mp_context=context) as pool,
        issuer_directory(keys) as directory,
        own_redis() as redis,
        scratch_database("nodedb", "config") as nodedb_url,
    ):
        tmp = Path(tmp_name)
        env = server_env(nodedb_url, redis.url, directory.url)
        settings = load(ConfigSettings, env)
        # Minting runs on every core while the servers start; no load starts before it is done.
        token_challenge = challenge(settings)
        minting = start_minting(pool, keys[0], token_challenge, tokens_needed, processes)
        config_port, hello_port, plain_port = free_port(), free_port(), free_port()
        config_command = granian_command(
            CONFIG_FACTORY, config_port, factory=True, max_requests=settings.max_requests
        )
        hello_command = granian_command(HELLO_FACTORY, hello_port, factory=True)
        plain_command = granian_command(PLAIN_FACTORY, plain_port, factory=True)
        _note(f"config role and hello-world under {config_command.details}")
        with (
            running(
                config_command,
                port=config_port,
                ready_path="/healthz",
                env=env,
                cpus=where.server_cpus,
            ) as config_url,
            running(
                hello_command,
                port=hello_port,
                ready_path=hello.PATH,
                env={"PYTHONPATH": env["PYTHONPATH"], hello.REDIS_URL_VARIABLE: redis.url},
                cpus=where.server_cpus,
            ) as hello_url,
            running(
                plain_command,
                port=plain_port,
                ready_path="/healthz",
                env={**env, "PHOENIX_OPS_PORT": str(free_port())},
                cpus=where.server_cpus,
            ) as plain_url,
        ):
            _wait_ready(f"http://127.0.0.1:{env['PHOENIX_OPS_PORT']}/readyz")
            operator_token = env["PHOENIX_OPERATOR_TOKEN"]
            with httpx.Client(base_url=config_url, timeout=30, trust_env=False) as client:
                nodes = register_fleet(client, operator_token, LOCATION, NODES)
                register_fleet(client, operator_token, PLAIN_LOCATION, NODES, first=NODES + 1)
                [latency_node] = register_fleet(
                    client, operator_token, LATENCY_LOCATION, 1, first=NODES
                )
            mint_started = time.monotonic()
            authorizations = [header for future in minting for header in future.result()]
            _note(
                f"{len(authorizations)} tokens minted on {processes} processes "
                f"(waited {time.monotonic() - mint_started:.1f} s after the setup)"
            )
            latency_tokens = authorizations[: LATENCY_WARMUP + LATENCY_SAMPLES]
            throughput = measure_throughput(
                config_url,
                hello_url,
                plain_url,
                nodes,
                authorizations[len(latency_tokens) :],
                functools.partial(mint, pool, keys[0], token_challenge, chunks=processes),
                where,
                tmp,
            )
            latency = measure_latency(config_url, redis.url, latency_node, latency_tokens)
    _note(f"config benchmark took {time.monotonic() - started:.1f} s")
    return results(throughput, latency)


if __name__ == "__main__":
    print(format_table(run()))
