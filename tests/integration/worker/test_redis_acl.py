"""docs/redis-acl.conf on a real Redis: config and the worker share a server, not their data.

The worker's user is refused (NOPERM) config's spent-token marks, peer-change streams and node
heartbeats, in any database, while the worker's real jobs (Dramatiq on the Redis broker, the
schedule lock, the blocklist's validators) run with it and config's user does what config does.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
import redis.asyncio
from dramatiq.brokers.redis import MAINTENANCE_SCALE
from litestar.testing import TestClient

from phoenix.config import feed, fleet
from phoenix.config.hotpath.notifier import POLL_CHANNEL, WAKE_CHANNEL
from phoenix.config.leases import PeerChange
from phoenix.config.schemas import Heartbeat
from phoenix.config.spent import DEFAULT_PREFIX, Mark, SpentTokens
from phoenix.dev.probes import free_port
from phoenix.settings import load
from phoenix.worker.app import create_app
from phoenix.worker.schedule import Entry
from phoenix.worker.settings import WorkerSettings
from tests.harness.hosts_server import HostsServer, Served, hosts_file
from tests.harness.processes import REPO, wait_for_port

ACL_FILE = REPO / "docs" / "redis-acl.conf"
PLACEHOLDERS = {"config": "CHANGE-ME-config-password", "worker": "CHANGE-ME-worker-password"}


@dataclass
class AclRedis:
    """A redis-server of the test's own, run with the shipped ACL file (passwords filled in)."""

    port: int
    passwords: dict[str, str]
    process: subprocess.Popen[bytes]

    def url(self, user: str, database: int) -> str:
        return f"redis://{user}:{self.passwords[user]}@127.0.0.1:{self.port}/{database}"

    def client(self, user: str, database: int) -> redis.Redis:
        return redis.Redis.from_url(self.url(user, database))


def _redis_major() -> int:
    answer = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
    version = answer.stdout.split("v=")[1].split()[0]
    return int(version.split(".")[0])


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclRedis]:
    if shutil.which("redis-server") is None or _redis_major() < 6:
        pytest.skip("ACL users need redis-server 6 or later")
    directory = tmp_path_factory.mktemp("redis-acl")
    text = ACL_FILE.read_text()
    passwords = {user: secrets.token_hex(16) for user in PLACEHOLDERS}
    for user, placeholder in PLACEHOLDERS.items():
        assert f">{placeholder}" in text  # the operator's fill-in points stay where documented
        text = text.replace(placeholder, passwords[user])
    config_file = directory / "redis.conf"
    config_file.write_text(text)
    port = free_port()
    process = subprocess.Popen(
        [
            *("redis-server", str(config_file), "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(directory)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield AclRedis(port, passwords, process)
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class ConfigState:
    spent_key: str
    stream_key: str
    heartbeat_key: str


@pytest.fixture(scope="module")
def config_state(acl_redis: AclRedis) -> ConfigState:
    """What config keeps, written by config's own code with config's user."""
    node = uuid.uuid4()
    mark = Mark(secrets.token_bytes(32), secrets.token_bytes(32), int(time.time()) + 3600)

    async def write() -> str:
        client = redis.asyncio.Redis.from_url(acl_redis.url("config", 0))
        try:
            spent = SpentTokens(client)
            assert await spent.mark(mark)
            await feed.publish(client, [PeerChange(node, 1, "add", "k" * 44, ("10.64.0.2/32",))])
            beat = msgspec.json.encode(Heartbeat(1, 1, 0, 0, 1.0, 0.1, 10.0, 1))
            await client.set(f"{fleet.HEARTBEAT_PREFIX}{node}", beat, ex=60)
            return spent.key(mark)
        finally:
            await client.aclose()

    spent_key = asyncio.run(write())
    assert spent_key.startswith(DEFAULT_PREFIX)
    return ConfigState(spent_key, feed.stream_key(node), f"{fleet.HEARTBEAT_PREFIX}{node}")


READS_AND_WRITES: dict[str, Callable[[redis.Redis, ConfigState], Any]] = {
    "GET a spent mark": lambda r, s: r.get(s.spent_key),
    "DEL a spent mark": lambda r, s: r.delete(s.spent_key),
    "SET a spent mark": lambda r, s: r.set(s.spent_key, "forged"),
    "XRANGE a peer stream": lambda r, s: r.xrange(s.stream_key),
    "XREAD a peer stream": lambda r, s: r.xread({s.stream_key: "0-0"}),
    "XADD to a peer stream": lambda r, s: r.xadd(s.stream_key, {"c": "x"}),
    "PUBLISH a peer wake": lambda r, s: r.publish(WAKE_CHANNEL, "x"),
    "GET a heartbeat": lambda r, s: r.get(s.heartbeat_key),
    "MGET heartbeats": lambda r, s: r.mget([s.heartbeat_key]),
    "a script touching a spent mark": lambda r, s: r.eval(
        "return redis.call('GET', KEYS[1])", 1, s.spent_key
    ),
}


@pytest.mark.parametrize("database", [0, 1])
@pytest.mark.parametrize("operation", sorted(READS_AND_WRITES))
def test_the_worker_user_is_refused_configs_marks_streams_and_heartbeats(
    acl_redis: AclRedis, config_state: ConfigState, operation: str, database: int
) -> None:
    # Database 0 is config's; the worker's own (1) changes nothing: ACL keys span databases.
    client = acl_redis.client("worker", database)
    try:
        with pytest.raises(redis.exceptions.NoPermissionError, match=r"NOPERM|no permissions"):
            READS_AND_WRITES[operation](client, config_state)
    finally:
        client.close()
    # Still there, untouched.
    config = acl_redis.client("config", 0)
    assert config.exists(config_state.spent_key, config_state.stream_key) == 2
    config.close()


def test_nobody_works_without_a_user(acl_redis: AclRedis) -> None:
    anonymous = redis.Redis(port=acl_redis.port)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.get("phoenix:spent:x")
    anonymous.close()


def test_the_config_user_does_what_config_does(
    acl_redis: AclRedis, config_state: ConfigState
) -> None:
    async def as_config() -> None:
        client = redis.asyncio.Redis.from_url(acl_redis.url("config", 0))
        try:
            spent = SpentTokens(client)
            mark = Mark(secrets.token_bytes(32), secrets.token_bytes(32), int(time.time()) + 60)
            assert await spent.mark(mark)
            assert not await spent.mark(mark)  # spent once only
            await spent.unmark(mark)
            node = uuid.UUID(config_state.stream_key.removeprefix(feed.STREAM_PREFIX))
            assert len(await client.xrange(config_state.stream_key) or []) == 1
            # The long-poll notifier: subscribe to the wakes, publish one, receive it.
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(WAKE_CHANNEL, POLL_CHANNEL)
            assert await client.publish(WAKE_CHANNEL, str(node)) == 1
            message = None
            while message is None:
                message = await pubsub.get_message(timeout=5)
            assert message["data"] == str(node).encode()
            await pubsub.aclose()
            assert list(await fleet.last_heartbeats(client, [node])) == [node]
            # Readiness: eviction policy and persistence; replica acknowledgement of marks.
            assert "maxmemory-policy" in await client.config_get("maxmemory-policy")
            assert "aof_enabled" in await client.info("persistence")
            assert await client.wait(0, 10) == 0
        finally:
            await client.aclose()

    asyncio.run(as_config())


def test_the_worker_runs_its_jobs_as_its_own_user(acl_redis: AclRedis, tmp_path: Path) -> None:
    hosts = HostsServer()
    hosts.files["/hosts"] = Served(hosts_file([f"t{i}.ads.example.com" for i in range(50)]))
    worker_url = acl_redis.url("worker", 1)
    settings = load(
        WorkerSettings,
        {
            # The shipped ACL's names: the default namespace and queue.
            "PHOENIX_ENV": "test",
            "PHOENIX_WORKER_THREADS": "1",
            "PHOENIX_REDIS_URL": worker_url,
            "PHOENIX_BROKER_URL": worker_url,
            "PHOENIX_WORKER_SCHEDULE": "false",
            "PHOENIX_ISSUER_DIRECTORY_URL": "",
            "PHOENIX_BLOCKLIST_BASE_URL": hosts.url,
            "PHOENIX_BLOCKLIST_TARGET": f"file://{tmp_path / 'published'}",
            "PHOENIX_BLOCKLIST_SIGNING_KEY": "ZGV2LW9ubHktYmxvY2tsaXN0LXNpZ25pbmctc2VlZCE=",
        },
    )
    assert (settings.broker_namespace, settings.worker_queue) == ("phoenix", "phoenix-jobs")
    app = create_app(settings)
    worker = acl_redis.client("worker", 1)
    # A worker that died holding acks: Dramatiq's maintenance looks for them with KEYS.
    worker.zadd("phoenix:__heartbeats__", {"dead-worker": 0})
    app.state.broker.maintenance_chance = MAINTENANCE_SCALE
    try:
        with TestClient(app):
            actor = app.state.actors["compile_blocklist"]
            actor.send("base")
            _wait_until(lambda: (tmp_path / "published" / "base" / "manifest.json").exists())
            actor.send("base")  # conditional: the validators it stored are read back
            _wait_until(lambda: len(hosts.requests) == 2)
            app.state.broker.join(settings.worker_queue, timeout=30_000)
            entry = Entry("probe", 3600, lambda: None)
            assert app.state.schedule.fire(entry)
            assert not app.state.schedule.fire(entry)  # the lock holds
        assert hosts.requests[1].status == 304
        assert worker.hgetall("phoenix:blocklist:validators:base")
        assert worker.zscore("phoenix:__heartbeats__", "dead-worker") is None  # maintained
    finally:
        hosts.stop()
        worker.close()


def _wait_until(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)
