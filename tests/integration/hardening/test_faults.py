"""Faults with servers the test starts itself: Redis restarted while redemptions are in flight.

The promise (DESIGN §4): a token is never burnt without a config handed back, never accepted
twice, and while the spent-token store is away the answer is 503 (fail closed), never a 500.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

import httpx
import pytest
from sqlalchemy import text

from phoenix.config.settings import ConfigSettings
from tests.harness.processes import RoleServer, SpareRedis
from tests.integration.config.conftest import Stores
from tests.integration.config.test_connect import connect, live_node, tokens_for

pytestmark = pytest.mark.slow

TOKENS = 40
WAVE = 4  # tokens per wave; each token is sent twice at once, a double-spend attempt


async def settled(client: httpx.AsyncClient, token: str) -> int:
    """The answer once Redis is back for good: a 503 from a pooled connection that died with
    the old server is retried, as a client does after Retry-After."""
    for _ in range(10):
        answer = await connect(client, token)
        if answer.status_code != 503:
            break
        await asyncio.sleep(0.2)
    return answer.status_code


async def test_redis_restarted_during_redemptions_fails_closed_and_spends_no_token_twice(
    config_server: RoleServer,
    config_settings: ConfigSettings,
    stores: Stores,
    spare_redis: SpareRedis,
) -> None:
    tokens = tokens_for(config_settings, TOKENS)
    statuses: dict[str, list[int]] = defaultdict(list)

    async def attempt(client: httpx.AsyncClient, token: str) -> None:
        statuses[token].append((await connect(client, token)).status_code)

    async def restart_redis() -> None:
        await asyncio.sleep(0.4)
        await asyncio.to_thread(spare_redis.stop)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(spare_redis.start)

    async with httpx.AsyncClient(base_url=config_server.base_url, timeout=30) as client:
        await live_node(client)
        fault = asyncio.create_task(restart_redis())
        for start in range(0, TOKENS, WAVE):
            wave = tokens[start : start + WAVE]
            await asyncio.gather(*(attempt(client, t) for t in wave for _ in range(2)))
            await asyncio.sleep(0.05)
        await fault
        await live_node(client)  # the heartbeat may have lapsed while Redis was away
        # Every token that never got a config is still good: nothing was burnt by the outage.
        for token in tokens:
            if 200 not in statuses[token]:
                statuses[token].append(await settled(client, token))
        # And every token that did is refused now: the restart forgot no spent token.
        answers = [await settled(client, token) for token in tokens]
    seen = Counter(code for codes in statuses.values() for code in codes)
    assert set(seen) <= {200, 401, 503}, seen
    assert seen[503] > 0, "Redis went away between waves only: no redemption met the fault"
    histories = [statuses[token] for token in tokens]
    assert [codes for codes in histories if codes.count(200) != 1] == []
    assert answers == [401] * TOKENS
    async with stores.nodedb.connect() as connection:
        leases = (await connection.execute(text("SELECT count(*) FROM leases"))).scalar_one()
    assert leases == TOKENS
