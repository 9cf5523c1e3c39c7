"""A token is worth something only while its issuer key is: then it is refused, its mark gone.

Issue 20's finding: spent marks expired after a fixed 14 days while a key was accepted for as
long as the directory listed it, so a kept token could be spent again every 14 days. Now config
bounds each key's life itself (not-before + max age + overlap), and a spent mark lives exactly
that long (plus a clock margin). Real Redis, real NodeDB, the config app, and a real HTTP issuer
directory whose key came into effect just under an hour ago.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from phoenix.app import create_app
from phoenix.config.settings import ConfigSettings
from phoenix.config.spent import CLOCK_MARGIN, DEFAULT_PREFIX
from phoenix.config.tokens import challenge
from phoenix.crypto.privacypass import build_authorization
from phoenix.migrations import upgrade
from phoenix.settings import load
from tests.harness.issuer import DirectoryServer, mint_tokens, private_keys
from tests.harness.processes import SpareRedis
from tests.integration.config.conftest import MONITOR_TOKEN, OPERATOR_TOKEN
from tests.integration.config.test_connect import assert_problem, connect, live_node

# The key's whole life (max age, no overlap) is an hour; it ends this many seconds from now.
LEFT = 20


@pytest.fixture
def dying_key() -> Iterator[tuple[DirectoryServer, int]]:
    not_before = int(time.time()) - 3600 + LEFT
    server = DirectoryServer(private_keys(1), datetime.fromtimestamp(not_before, UTC))
    yield server, not_before + 3600
    server.stop()


@pytest.fixture
async def settings(
    database_name_factory: Any, spare_redis: SpareRedis, dying_key: tuple[DirectoryServer, int]
) -> ConfigSettings:
    url = database_name_factory("nodedb")
    await asyncio.to_thread(upgrade, "nodedb", url)
    return load(
        ConfigSettings,
        {
            "PHOENIX_ENV": "test",
            "PHOENIX_NODEDB_URL": url,
            "PHOENIX_REDIS_URL": spare_redis.url,
            "PHOENIX_OPERATOR_TOKEN": OPERATOR_TOKEN,
            "PHOENIX_MONITOR_TOKEN": MONITOR_TOKEN,
            "PHOENIX_FLEET_SWEEP_SECONDS": "3600",
            "PHOENIX_ISSUER_DIRECTORY_URL": dying_key[0].url,
            "PHOENIX_ISSUER_KEY_MAX_AGE": "PT1H",
            "PHOENIX_ISSUER_KEY_OVERLAP_HOURS": "0",
        },
    )


@pytest.fixture
async def config(settings: ConfigSettings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(create_app("config", settings), timeout=30) as client:
        yield client


async def test_a_token_is_refused_once_its_keys_life_is_over_and_its_mark_then_goes(
    config: AsyncTestClient[Any],
    settings: ConfigSettings,
    spare_redis: SpareRedis,
    dying_key: tuple[DirectoryServer, int],
) -> None:
    _, life_ends = dying_key
    spent, kept = (
        build_authorization(raw) for raw in mint_tokens(private_keys(1)[0], challenge(settings), 2)
    )
    await live_node(config)
    answer = await connect(config, spent)
    assert answer.status_code == 200, answer.text
    redis = Redis.from_url(spare_redis.url)
    try:
        (mark,) = [key async for key in redis.scan_iter(match=DEFAULT_PREFIX + "*")]
        # The mark lives exactly as long as the key is accepted, and a clock margin.
        assert await redis.expiretime(mark) == life_ends + CLOCK_MARGIN
    finally:
        await redis.aclose()

    # The directory goes on listing the key: only its life ends.
    await asyncio.sleep(max(0.0, life_ends - time.time()) + 0.2)
    for token in (kept, spent):
        problem = assert_problem(await connect(config, token), 401)
        assert problem["type"].endswith("/invalid-token")
        assert "expired" in problem["detail"]


def test_a_spent_mark_shorter_than_a_keys_life_is_refused_at_start() -> None:
    from phoenix.settings import SettingsError

    base = {"PHOENIX_ENV": "test", "PHOENIX_NODEDB_URL": "postgresql://db.example/nodes"}
    with pytest.raises(SettingsError) as refused:
        load(ConfigSettings, {**base, "PHOENIX_TOKEN_VALIDITY_SECONDS": str(14 * 86_400)})
    assert refused.value.variable == "PHOENIX_TOKEN_VALIDITY_SECONDS"
    life = timedelta(days=30, hours=72).total_seconds()
    allowed = load(ConfigSettings, {**base, "PHOENIX_TOKEN_VALIDITY_SECONDS": str(int(life))})
    assert allowed.key_life.total_seconds() == life
