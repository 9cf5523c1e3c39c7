"""NodeDB away: a connect is a 503 to retry, the token is not burnt, and the pool recovers.

The hottest statement (the one-statement lease placement) runs on psycopg directly rather than
through SQLAlchemy (phoenix.common.database.driver), so its errors are psycopg's own: this pins
that they too become a 503 problem, never a 500, and that a connection the restart killed is
not handed out again and again. NodeDB is a cluster of the test's own (initdb on a spare port).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from phoenix.config.app import create_app
from phoenix.config.settings import ConfigSettings
from phoenix.migrations import upgrade
from tests.harness.postgres import PrivatePostgres
from tests.integration.config.test_connect import assert_problem, connect, live_node, tokens_for
from tests.integration.hardening.test_postgres_faults import private_postgres

pytestmark = pytest.mark.slow
__all__ = ["private_postgres"]  # the private cluster fixture, shared with the fault tests


async def test_nodedb_stopped_is_a_503_and_the_same_token_connects_once_it_is_back(
    private_postgres: PrivatePostgres, config_settings: ConfigSettings
) -> None:
    nodedb = private_postgres
    url = nodedb.url.rsplit("/", 1)[0] + "/nodedb"
    await asyncio.to_thread(upgrade, "nodedb", url)
    settings = msgspec.structs.replace(config_settings, nodedb_url=url)
    first, second = tokens_for(settings, 2)
    client: AsyncTestClient[Any]
    async with AsyncTestClient(create_app(settings), timeout=30) as client:
        await live_node(client)
        assert (await connect(client, first)).status_code == 200  # pool and caches are warm

        await asyncio.to_thread(nodedb.stop)
        try:
            down = await connect(client, second)
            problem = assert_problem(down, 503)
            assert problem["type"].endswith("database-unavailable")
            assert "retry-after" in down.headers
        finally:
            await asyncio.to_thread(nodedb.start)

        # Connections the restart ended may each fail one statement before the pool drops
        # them; the token was never burnt, so retrying it soon succeeds.
        answers = []
        for _ in range(12):
            answer = await connect(client, second)
            answers.append(answer.status_code)
            if answer.status_code != 503:
                break
            await asyncio.sleep(0.25)
        assert answers[-1] == 200, answers
