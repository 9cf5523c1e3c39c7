"""The spent-token store's Redis must keep what it is given: real redis-server processes.

Issue 20's finding: a Redis that evicts volatile keys (a common managed-service default) or
restarts without persistence forgets spent marks, and each forgotten mark is a token that buys
a second config. Config's readiness now says so in production, and with replicas a mark waits
until one has it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from phoenix.config.durability import NotDurable, check_durable
from phoenix.config.spent import Mark, SpentStoreUnavailable, SpentTokens
from phoenix.dev.probes import free_port
from tests.harness.processes import RoleServer, wait_for_port

KEY_ID = os.urandom(32)
HEADER = 'PrivateToken challenge="AAIAAA==", error="token-spent"'


@contextmanager
def redis_server(directory: Path, *options: str) -> Iterator[str]:
    """A redis-server of the test's own, with ``options``; its URL."""
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(directory),
            *options,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
async def connect() -> AsyncIterator[list[Redis]]:
    made: list[Redis] = []
    yield made
    for client in made:
        await client.aclose()


def client(url: str, made: list[Redis]) -> Redis:
    made.append(Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5))
    return made[-1]


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (("--maxmemory-policy", "volatile-lru", "--appendonly", "yes"), "volatile-lru"),
        (("--maxmemory-policy", "allkeys-lru", "--appendonly", "yes"), "allkeys-lru"),
        (("--maxmemory-policy", "noeviction", "--appendonly", "no", "--save", ""), "neither"),
    ],
    ids=["evicts-volatile-keys", "evicts-any-key", "no-persistence"],
)
async def test_a_redis_that_could_lose_marks_is_not_durable(
    tmp_path: Path, connect: list[Redis], options: tuple[str, ...], reason: str
) -> None:
    with redis_server(tmp_path, *options) as url, pytest.raises(NotDurable, match=reason):
        await check_durable(client(url, connect))


@pytest.mark.parametrize(
    "options",
    [
        ("--maxmemory-policy", "noeviction", "--appendonly", "yes"),
        ("--maxmemory-policy", "noeviction", "--appendonly", "no", "--save", "3600 1"),
    ],
    ids=["aof", "rdb"],
)
async def test_noeviction_with_aof_or_rdb_is_durable(
    tmp_path: Path, connect: list[Redis], options: tuple[str, ...]
) -> None:
    with redis_server(tmp_path, *options) as url:
        await check_durable(client(url, connect))


async def test_with_a_replica_a_mark_is_kept_only_once_the_replica_has_it(
    tmp_path: Path, connect: list[Redis]
) -> None:
    with redis_server(tmp_path / "primary") as primary:
        port = primary.rsplit(":", 1)[1].split("/")[0]
        primary_client = client(primary, connect)
        spent = SpentTokens(primary_client, replicas=1, replica_wait_ms=500, prefix="t:")
        mark = Mark(os.urandom(32), KEY_ID, int(time.time()) + 3600)
        with redis_server(tmp_path / "replica", "--replicaof", "127.0.0.1", port) as replica:
            replica_client = client(replica, connect)
            for _ in range(100):  # the replica's first sync
                if (await replica_client.info("replication")).get("master_link_status") == "up":
                    break
                await asyncio.sleep(0.1)
            async with spent.spending(mark, www_authenticate=HEADER):
                pass
            assert await replica_client.exists(spent.key(mark))  # WAIT said it got there
        # The replica is gone: a mark cannot reach it, so no config, and the token stays good.
        second = Mark(os.urandom(32), KEY_ID, int(time.time()) + 3600)
        with pytest.raises(SpentStoreUnavailable):
            async with spent.spending(second, www_authenticate=HEADER):
                pytest.fail("a config was handed out on an unreplicated mark")
        assert not await primary_client.exists(spent.key(second))


@pytest.mark.parametrize(
    ("policy", "ready"), [("volatile-lru", False), ("noeviction", True)], ids=["evicts", "keeps"]
)
async def test_config_is_not_ready_on_a_redis_that_could_evict_its_marks(
    tmp_path: Path,
    migrated_database: Any,
    issuer_directory: Any,
    policy: str,
    ready: bool,
) -> None:
    url = await asyncio.to_thread(migrated_database, "nodedb")
    with redis_server(tmp_path, "--maxmemory-policy", policy, "--appendonly", "yes") as redis:
        env = {
            "PHOENIX_ENV": "test",
            "PHOENIX_NODEDB_URL": url,
            "PHOENIX_REDIS_URL": redis,
            "PHOENIX_ISSUER_DIRECTORY_URL": issuer_directory.url,
            "PHOENIX_FLEET_SWEEP_SECONDS": "3600",
            # What production does by default (PHOENIX_ENV=prod).
            "PHOENIX_REDIS_REQUIRE_DURABLE": "true",
        }
        server = RoleServer("config", env, tmp_path / "config.log").start()
        try:
            async with httpx.AsyncClient(base_url=server.ops_url, timeout=10) as ops:
                answer = await ops.get("/readyz")
        finally:
            server.stop()
    if ready:
        assert answer.status_code == 200, answer.text
    else:
        assert answer.status_code == 503
        problem = answer.json()
        assert problem["checks"] == {"postgres": "ok", "redis": "down", "issuer-directory": "ok"}
        assert "redis" in problem["detail"]
        assert "noeviction" in (tmp_path / "config.log").read_text()
