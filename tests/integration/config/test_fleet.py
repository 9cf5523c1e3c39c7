"""The fleet registry over HTTP: registration, heartbeats, locations and drain."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from tests.integration.config.conftest import MONITOR_TOKEN, NODE_TOKEN, Stores, beat, node_body

Client = AsyncTestClient[Any]
BOOT = {"authorization": f"Bearer {NODE_TOKEN}"}
MONITOR = {"authorization": f"Bearer {MONITOR_TOKEN}"}


async def register(client: Client, **changes: Any) -> dict[str, Any]:
    answer = await client.post("/v1/nodes/register", json=node_body(**changes), headers=BOOT)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def heartbeat(client: Client, node: dict[str, Any], **changes: Any) -> httpx.Response:
    return await client.post(
        f"/v1/nodes/{node['node_id']}/heartbeat",
        json=beat(**changes),
        headers={"authorization": f"Bearer {node['node_credential']}"},
    )


def assert_problem(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


async def test_registration_needs_a_bootstrap_token(config: Client) -> None:
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": NODE_TOKEN}):
        assert_problem(
            await config.post("/v1/nodes/register", json=node_body(), headers=headers), 401
        )


async def test_any_configured_bootstrap_token_is_accepted(config: Client) -> None:
    old = {"authorization": "Bearer old-token-" + "o" * 30}
    answer = await config.post("/v1/nodes/register", json=node_body(), headers=old)
    assert answer.status_code == 201


async def test_a_registered_node_gets_a_credential_and_its_own_pools(config: Client) -> None:
    node = await register(config)
    assert len(node["node_credential"]) >= 40
    assert ipaddress.ip_network(node["ipv4_pool"]).prefixlen == 20
    assert ipaddress.ip_network(node["ipv6_pool"]).prefixlen == 64
    assert node["revision"] == 0


async def test_the_same_key_registering_again_is_the_same_node_with_a_new_credential(
    config: Client,
) -> None:
    body = node_body()
    first = (await config.post("/v1/nodes/register", json=body, headers=BOOT)).json()
    second = (await config.post("/v1/nodes/register", json=body, headers=BOOT)).json()
    assert second["node_id"] == first["node_id"]
    assert second["ipv4_pool"] == first["ipv4_pool"]
    assert second["node_credential"] != first["node_credential"]
    assert_problem(await heartbeat(config, first), 401)
    assert (await heartbeat(config, second)).status_code == 200


async def test_concurrent_registrations_never_share_a_pool(config: Client) -> None:
    nodes = await asyncio.gather(*(register(config) for _ in range(20)))
    v4 = [ipaddress.ip_network(n["ipv4_pool"]) for n in nodes]
    v6 = [ipaddress.ip_network(n["ipv6_pool"]) for n in nodes]
    for pools in (v4, v6):
        assert len(set(pools)) == 20
        assert not any(a.overlaps(b) for i, a in enumerate(pools) for b in pools[i + 1 :])


async def test_bad_registration_bodies_are_4xx(config: Client) -> None:
    cases = [
        (node_body(public_key="AAAA" * 11), 422),  # 44 characters but 33 bytes
        (node_body(public_key="short"), 422),
        (node_body(location="Frankfurt"), 422),
        (node_body(public_ip="not-an-ip"), 422),
        (node_body(listen_port=0), 422),
        ({**node_body(), "extra": 1}, 422),
    ]
    for body, status in cases:
        assert_problem(await config.post("/v1/nodes/register", json=body, headers=BOOT), status)
    garbage = await config.post(
        "/v1/nodes/register", content=b"{oops", headers={**BOOT, "content-type": "application/json"}
    )
    assert_problem(garbage, 400)


async def test_heartbeats_are_authenticated_and_range_checked(config: Client) -> None:
    node = await register(config)
    assert (await heartbeat(config, node)).json() == {"drain": False, "revision": 0}
    assert_problem(await heartbeat(config, {**node, "node_credential": "nope"}), 401)
    assert_problem(await heartbeat(config, node, cpu=250.0), 422)
    assert_problem(await heartbeat(config, node, active_peers=-1), 422)
    unknown = {**node, "node_id": "00000000-0000-4000-8000-000000000000"}
    assert_problem(await heartbeat(config, unknown), 404)


async def test_locations_list_only_nodes_with_a_fresh_heartbeat(config: Client) -> None:
    silent = await register(config, location="nl-ams")
    alive = await register(config, location="de-fra")
    assert silent["node_id"] != alive["node_id"]
    await heartbeat(config, alive, active_peers=10)
    answer = await config.get("/v1/locations")
    assert answer.json() == {
        "locations": [
            {"location": "de-fra", "country": "DE", "city": "fra", "available": True, "load": "low"}
        ]
    }
    cached = await config.get("/v1/locations", headers={"if-none-match": answer.headers["etag"]})
    assert cached.status_code == 304


async def test_a_drained_node_tells_its_node_and_finishes_after_three_empty_heartbeats(
    config: Client,
) -> None:
    node = await register(config)
    await heartbeat(config, node, active_peers=3)
    assert_problem(
        await config.post("/node/drain", json={"id": node["node_id"], "reason": "blocked"}), 401
    )
    drained = await config.post(
        "/node/drain", json={"id": node["node_id"], "reason": "blocked"}, headers=MONITOR
    )
    assert drained.status_code == 200
    assert (await config.get("/v1/locations")).json() == {"locations": []}
    assert (await heartbeat(config, node, active_peers=3)).json()["drain"] is True
    for _ in range(3):
        await heartbeat(config, node, active_peers=0)
    listing = (await config.get("/v1/nodes?status=drained", headers=MONITOR)).json()
    assert [n["id"] for n in listing["nodes"]] == [node["node_id"]]
    assert listing["nodes"][0]["drain_reason"] == "blocked"
    assert (
        await config.post(f"/v1/nodes/{node['node_id']}/undrain", headers=MONITOR)
    ).status_code == 200
    assert (await heartbeat(config, node)).json()["drain"] is False


async def test_a_drain_reason_outside_the_list_is_422(config: Client) -> None:
    node = await register(config)
    answer = await config.post(
        "/node/drain", json={"id": node["node_id"], "reason": "bored"}, headers=MONITOR
    )
    assert_problem(answer, 422)


async def test_the_node_listing_needs_the_monitor_credential(config: Client) -> None:
    assert_problem(await config.get("/v1/nodes"), 401)
    assert_problem(
        await config.get("/v1/nodes", headers={"authorization": f"Bearer {NODE_TOKEN}"}), 401
    )
    assert_problem(await config.get("/v1/nodes?status=odd", headers=MONITOR), 400)


async def test_a_terminated_node_frees_its_pool_and_leases_and_its_credential_stops_working(
    config: Client, stores: Stores
) -> None:
    import os
    import uuid
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    from phoenix.config import leases

    node = await register(config)
    async with stores.nodedb.begin() as connection:
        await leases.allocate(
            connection,
            uuid.UUID(node["node_id"]),
            os.urandom(32),
            timedelta(hours=1),
            datetime.now(UTC),
        )
    assert_problem(await config.post(f"/v1/nodes/{node['node_id']}/terminated"), 401)
    done = await config.post(f"/v1/nodes/{node['node_id']}/terminated", headers=MONITOR)
    assert done.status_code == 200
    async with stores.nodedb.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM leases"))).scalar_one() == 0
    assert_problem(await heartbeat(config, node), 404)
    successor = await register(config)
    assert successor["ipv4_pool"] == node["ipv4_pool"]  # the freed pool is reused
