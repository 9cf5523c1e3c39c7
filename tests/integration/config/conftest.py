"""The config role in process, on a fresh NodeDB and a Redis of the test's own."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from phoenix.config.app import create_app
from phoenix.config.settings import ConfigSettings
from phoenix.settings import load
from tests.conftest import Tree
from tests.harness.nodes import OPERATOR_TOKEN
from tests.harness.processes import RoleServer, SpareRedis

MONITOR_TOKEN = "fleet-monitor-token-" + "m" * 24


def wg_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def beat(**changes: Any) -> dict[str, Any]:
    return {
        "peers": 0,
        "active_peers": 0,
        "rx_bytes": 0,
        "tx_bytes": 0,
        "cpu": 5.0,
        "load1": 0.1,
        "mem_used": 20.0,
        "applied_revision": 0,
        **changes,
    }


@pytest.fixture
async def config_settings(
    migrated_database: Callable[[Tree], str], spare_redis: SpareRedis, issuer_directory: Any
) -> ConfigSettings:
    url = await asyncio.to_thread(migrated_database, "nodedb")
    return load(
        ConfigSettings,
        {
            "PHOENIX_ENV": "test",
            "PHOENIX_NODEDB_URL": url,
            "PHOENIX_REDIS_URL": spare_redis.url,
            "PHOENIX_OPERATOR_TOKEN": OPERATOR_TOKEN,
            "PHOENIX_MONITOR_TOKEN": MONITOR_TOKEN,
            "PHOENIX_HEARTBEAT_TTL_SECONDS": "30",
            # Tests sweep when they mean to (POST /v1/admin/fleet/sweep), never by surprise.
            "PHOENIX_FLEET_SWEEP_SECONDS": "3600",
            "PHOENIX_ISSUER_DIRECTORY_URL": issuer_directory.url,
        },
    )


@pytest.fixture
async def config(config_settings: ConfigSettings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(create_app(config_settings), timeout=30) as client:
        yield client


class Stores:
    """NodeDB and Redis clients of the test's own event loop (the app's live in its portal)."""

    def __init__(self, settings: ConfigSettings) -> None:
        from redis.asyncio import Redis

        from phoenix.common.database import create_engine

        self.nodedb = create_engine(settings.nodedb_url, pool_size=5)
        self.redis = Redis.from_url(settings.redis_url)

    async def close(self) -> None:
        await self.redis.aclose()
        await self.nodedb.dispose()


@pytest.fixture
async def stores(config_settings: ConfigSettings) -> AsyncIterator[Stores]:
    made = Stores(config_settings)
    yield made
    await made.close()


@pytest.fixture
def config_server(config_settings: ConfigSettings, tmp_path: Any) -> Iterator[RoleServer]:
    """The config role as a real `phoenix serve` process (long-polls need real concurrency)."""
    env = {
        "PHOENIX_ENV": "test",
        "PHOENIX_NODEDB_URL": config_settings.nodedb_url,
        "PHOENIX_REDIS_URL": config_settings.redis_url,
        "PHOENIX_OPERATOR_TOKEN": OPERATOR_TOKEN,
        "PHOENIX_MONITOR_TOKEN": MONITOR_TOKEN,
        "PHOENIX_ISSUER_DIRECTORY_URL": config_settings.issuer_directory_url,
        "PHOENIX_FLEET_SWEEP_SECONDS": "3600",
        # The netns tests' node address (tests/e2e), private on purpose: that one address only.
        "PHOENIX_NODE_DEV_NETWORKS": "192.0.2.1/32",
    }
    server = RoleServer("config", env, tmp_path / "config.log").start()
    yield server
    server.stop()
