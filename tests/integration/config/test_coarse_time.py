"""No time that could join issuance to redemption: leases end on the hour, log lines to the second.

A load balancer or proxy that logs (client address, time) at the issuer and at config lets
whoever reads both join a subscriber to a WireGuard key by time alone. So nothing config keeps
next to a client key, and nothing it answers, is finer than an hour, and no log line of ours
is finer than a second.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from phoenix.config.settings import ConfigSettings
from phoenix.config.wgconfig import parse_wg_quick
from tests.harness.processes import RoleServer
from tests.integration.config.conftest import Stores, wg_key
from tests.integration.config.test_connect import connect, live_node, tokens_for

Client = AsyncTestClient[Any]
WHOLE_SECOND = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


async def stored_expiry(stores: Stores, key: str) -> datetime:
    async with stores.nodedb.connect() as connection:
        expiry: datetime = (
            await connection.execute(
                text("SELECT expires_at FROM leases WHERE public_key = :key"),
                {"key": base64.b64decode(key)},
            )
        ).scalar_one()
    return expiry


async def lease_elsewhere(stores: Stores, node_id: str, key: str) -> None:
    """A lease for ``key`` on another node, ending at an exact moment: the next connect moves it
    (the general path, phoenix.config.leases.allocate, rather than the batch statement)."""
    async with stores.nodedb.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO leases (public_key, node_id, ipv4, ipv6, expires_at) "
                "SELECT :key, id, set_masklen(ipv4_pool::inet + 2, 32), "
                "set_masklen(ipv6_pool::inet + 2, 128), now() + interval '1234.567891 seconds' "
                "FROM nodes WHERE id = :node"
            ),
            {"key": base64.b64decode(key), "node": uuid.UUID(node_id)},
        )


@pytest.mark.parametrize(
    "path", ["a new key (the batch statement)", "a key moved from another node", "a renewal"]
)
async def test_a_lease_ends_on_the_hour_in_nodedb_and_in_the_answer(
    config: Client, config_settings: ConfigSettings, stores: Stores, path: str
) -> None:
    elsewhere = await live_node(config, location="nl-ams")
    await live_node(config)
    key = wg_key()
    first, second = tokens_for(config_settings, 2)
    if path == "a key moved from another node":
        await lease_elsewhere(stores, elsewhere["node_id"], key)
    elif path == "a renewal":  # the key already holds a lease on this node: it is extended
        assert (await connect(config, first, {"location": "de-fra", "public_key": key})).is_success
    lease = timedelta(hours=config_settings.lease_hours)
    asked = datetime.now(UTC)
    answer = await connect(config, second, {"location": "de-fra", "public_key": key})
    answered = datetime.now(UTC)
    assert answer.status_code == 200, answer.text

    stored = await stored_expiry(stores, key)
    assert (stored.minute, stored.second, stored.microsecond) == (0, 0, 0)
    # Never shorter than the lease, and longer by less than the hour it was rounded up by.
    assert asked + lease <= stored < answered + lease + timedelta(hours=1)
    assert answer.json()["expires_at"] == stored.astimezone(UTC).strftime("%Y-%m-%dT%H:00:00Z")


async def test_the_wg_quick_file_says_the_same_hour(
    config: Client, config_settings: ConfigSettings, stores: Stores
) -> None:
    await live_node(config)
    key = wg_key()
    answer = await connect(
        config,
        tokens_for(config_settings)[0],
        {"location": "de-fra", "public_key": key},
        accept="text/plain",
    )
    assert answer.status_code == 200, answer.text
    expires_at = parse_wg_quick(answer.text).expires_at
    assert expires_at.endswith(":00:00Z")
    stored = await stored_expiry(stores, key)
    assert datetime.fromisoformat(expires_at) == stored


async def test_every_log_line_of_a_served_role_is_stamped_to_the_second(
    config_server: RoleServer, config_settings: ConfigSettings
) -> None:
    async with httpx.AsyncClient(base_url=config_server.base_url, timeout=30) as client:
        await live_node(client)
        assert (await connect(client, tokens_for(config_settings)[0])).status_code == 200
        assert (await client.get("/no/such/route")).status_code == 404
    config_server.stop()
    lines = [json.loads(line) for line in config_server.logs().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "phoenix.access"]
    assert {line["route"] for line in access} >= {"/v1/connect", "<unmatched>"}
    # The server's own lines too (granian's start and stop go through our formatter).
    assert any(line.get("logger", "").startswith("_granian") for line in lines)
    stamps = [line["timestamp"] for line in lines]
    assert stamps
    assert [stamp for stamp in stamps if not WHOLE_SECOND.match(stamp)] == []
