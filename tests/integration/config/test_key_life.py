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
from phoenix.crypto.privacypass.headers import build_authorization
from phoenix.settings import load
from tests.harness.issuer import DirectoryServer, mint_tokens, private_keys
from tests.harness.processes import SpareRedis
from tests.integration.config.conftest import MONITOR_TOKEN, OPERATOR_TOKEN
from tests.integration.config.test_connect import assert_problem, connect, live_node

# Each key's whole life (max age, no overlap) is an hour: the first has ten minutes of it left,
# the second's ended a minute ago (and the directory goes on listing it: only its life ends).
HOUR = 3600
LEFT = 600
ENDED = 60


@pytest.fixture
def keys() -> Iterator[tuple[DirectoryServer, int]]:
    now = int(time.time())
    starts = (now - HOUR + LEFT, now - HOUR - ENDED)
    server = DirectoryServer(
        private_keys(2), tuple(datetime.fromtimestamp(start, UTC) for start in starts)
    )
    yield server, starts[0] + HOUR
    server.stop()


@pytest.fixture
async def settings(
    migrated_database: Any, spare_redis: SpareRedis, keys: tuple[DirectoryServer, int]
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
            "PHOENIX_FLEET_SWEEP_SECONDS": "3600",
            "PHOENIX_ISSUER_DIRECTORY_URL": keys[0].url,
            "PHOENIX_ISSUER_KEY_MAX_AGE": "PT1H",
            "PHOENIX_ISSUER_KEY_OVERLAP_HOURS": "0",
        },
    )


@pytest.fixture
async def config(settings: ConfigSettings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(create_app("config", settings), timeout=30) as client:
        yield client


async def test_a_spent_mark_lives_exactly_as_long_as_its_key_is_accepted(
    config: AsyncTestClient[Any],
    settings: ConfigSettings,
    spare_redis: SpareRedis,
    keys: tuple[DirectoryServer, int],
) -> None:
    _, life_ends = keys
    (token,) = mint_tokens(private_keys(2)[0], challenge(settings), 1)
    await live_node(config)
    answer = await connect(config, build_authorization(token))
    assert answer.status_code == 200, answer.text
    redis = Redis.from_url(spare_redis.url)
    try:
        (mark,) = [key async for key in redis.scan_iter(match=DEFAULT_PREFIX + "*")]
        # The mark lives exactly as long as the key is accepted, and a clock margin.
        assert await redis.expiretime(mark) == life_ends + CLOCK_MARGIN
    finally:
        await redis.aclose()


async def test_a_token_whose_keys_life_is_over_is_refused_though_the_key_is_still_listed(
    config: AsyncTestClient[Any], settings: ConfigSettings, spare_redis: SpareRedis
) -> None:
    # Unspent, so no mark could refuse it: only the key's ended life does.
    (token,) = mint_tokens(private_keys(2)[1], challenge(settings), 1)
    await live_node(config)
    problem = assert_problem(await connect(config, build_authorization(token)), 401)
    assert problem["type"].endswith("/invalid-token")
    assert "expired" in problem["detail"]
    redis = Redis.from_url(spare_redis.url)
    try:
        assert [key async for key in redis.scan_iter(match=DEFAULT_PREFIX + "*")] == []
    finally:
        await redis.aclose()


def test_a_spent_mark_shorter_than_a_keys_life_is_refused_at_start() -> None:
    from phoenix.settings import SettingsError

    base = {"PHOENIX_ENV": "test", "PHOENIX_NODEDB_URL": "postgresql://db.example/nodes"}
    with pytest.raises(SettingsError) as refused:
        load(ConfigSettings, {**base, "PHOENIX_TOKEN_VALIDITY_SECONDS": str(14 * 86_400)})
    assert refused.value.variable == "PHOENIX_TOKEN_VALIDITY_SECONDS"
    life = timedelta(days=30, hours=72).total_seconds()
    allowed = load(ConfigSettings, {**base, "PHOENIX_TOKEN_VALIDITY_SECONDS": str(int(life))})
    assert allowed.key_life.total_seconds() == life
