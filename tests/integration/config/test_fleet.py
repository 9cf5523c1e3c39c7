"""The fleet registry over HTTP: registration, heartbeats, locations and drain.

Who may register (proofs, enrollment keys, attestations, addresses) is tested in node_trust/;
here every node enrolls the ordinary way (tests.harness.nodes).
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from tests.harness.nodes import (
    OPERATOR,
    NodeKeys,
    bearer,
    enroll,
    mint,
    new_keys,
    node_body,
    prove,
    register,
)
from tests.integration.config.conftest import MONITOR_TOKEN, Stores, beat

Client = AsyncTestClient[Any]
MONITOR = {"authorization": f"Bearer {MONITOR_TOKEN}"}


async def heartbeat(
    client: Client, node_id: str, credential: str, **changes: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/nodes/{node_id}/heartbeat", json=beat(**changes), headers=bearer(credential)
    )


async def proven(client: Client, keys: NodeKeys, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with a good proof of a fresh challenge (to send as it is, or spoil first)."""
    challenge = await client.post("/v1/nodes/challenge")
    assert challenge.status_code == 201, challenge.text
    return prove(body, keys, challenge.json())


def assert_problem(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


async def test_a_registered_node_gets_a_credential_and_its_own_pools(config: Client) -> None:
    node = await enroll(config)
    assert len(node.credential) >= 40
    assert ipaddress.ip_network(node.answer["ipv4_pool"]).prefixlen == 20
    assert ipaddress.ip_network(node.answer["ipv6_pool"]).prefixlen == 64
    assert node.answer["revision"] == 0
    assert node.answer["status"] == "active"


async def test_the_same_key_registering_again_is_the_same_node_with_a_new_credential(
    config: Client,
) -> None:
    node = await enroll(config)
    again = await register(config, node.keys, node_body(node.keys), node.credential)
    assert again.status_code == 201, again.text
    second = again.json()
    assert second["node_id"] == node.id
    assert second["ipv4_pool"] == node.answer["ipv4_pool"]
    assert second["node_credential"] != node.credential
    # The old credential is gone: no heartbeat with it, no registering again with it.
    assert_problem(await heartbeat(config, node.id, node.credential), 401)
    assert_problem(await register(config, node.keys, node_body(node.keys), node.credential), 401)
    assert (await heartbeat(config, node.id, second["node_credential"])).status_code == 200


async def test_concurrent_registrations_never_share_a_pool(config: Client) -> None:
    async def one(enrollment_key: str) -> httpx.Response:
        keys = new_keys()
        answer: httpx.Response = await register(config, keys, node_body(keys), enrollment_key)
        return answer

    answers = await asyncio.gather(*(one(key) for key in await mint(config, count=20)))
    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers]
    nodes = [a.json() for a in answers]
    assert len({n["node_id"] for n in nodes}) == 20
    v4 = [ipaddress.ip_network(n["ipv4_pool"]) for n in nodes]
    v6 = [ipaddress.ip_network(n["ipv6_pool"]) for n in nodes]
    for pools in (v4, v6):
        assert len(set(pools)) == 20
        assert not any(a.overlaps(b) for i, a in enumerate(pools) for b in pools[i + 1 :])


async def test_bad_registration_bodies_are_4xx_and_spend_no_enrollment_key(
    config: Client,
) -> None:
    keys = new_keys()
    (key,) = await mint(config)
    auth = bearer(key)
    # Each of these carries a good proof of its own claims: the field named is what is wrong.
    for body in [
        node_body(keys, public_key="AAAA" * 11),  # 44 characters but 33 bytes
        node_body(keys, public_key="short"),
        node_body(keys, location="Frankfurt"),
        node_body(keys, public_ip="not-an-ip"),
        node_body(keys, public_ip="192.0.2.10"),  # documentation: not global unicast
        node_body(keys, listen_port=0),
    ]:
        assert_problem(await register(config, keys, body, key), 422)
    no_proof = node_body(keys)
    extra = {**await proven(config, keys, node_body(keys)), "extra": 1}
    for body in (no_proof, extra):
        assert_problem(await config.post("/v1/nodes/register", json=body, headers=auth), 422)
    garbage = await config.post(
        "/v1/nodes/register", content=b"{oops", headers={**auth, "content-type": "application/json"}
    )
    assert_problem(garbage, 400)
    # None of them spent the key: it still enrolls the node.
    assert (await register(config, keys, node_body(keys), key)).status_code == 201


async def test_heartbeats_are_authenticated_and_range_checked(config: Client) -> None:
    node = await enroll(config)
    assert (await heartbeat(config, node.id, node.credential)).json() == {
        "drain": False,
        "revision": 0,
    }
    assert_problem(await heartbeat(config, node.id, "nope"), 401)
    assert_problem(await heartbeat(config, node.id, node.credential, cpu=250.0), 422)
    assert_problem(await heartbeat(config, node.id, node.credential, active_peers=-1), 422)
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_problem(await heartbeat(config, unknown, node.credential), 404)


async def test_locations_list_only_nodes_with_a_fresh_heartbeat(config: Client) -> None:
    silent = await enroll(config, "nl-ams")
    alive = await enroll(config, "de-fra")
    assert silent.id != alive.id
    await heartbeat(config, alive.id, alive.credential, active_peers=10)
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
    node = await enroll(config)
    await heartbeat(config, node.id, node.credential, active_peers=3)
    assert_problem(await config.post("/node/drain", json={"id": node.id, "reason": "blocked"}), 401)
    drained = await config.post(
        "/node/drain", json={"id": node.id, "reason": "blocked"}, headers=MONITOR
    )
    assert drained.status_code == 200
    assert (await config.get("/v1/locations")).json() == {"locations": []}
    told = await heartbeat(config, node.id, node.credential, active_peers=3)
    assert told.json()["drain"] is True
    for _ in range(3):
        await heartbeat(config, node.id, node.credential, active_peers=0)
    listing = (await config.get("/v1/nodes?status=drained", headers=MONITOR)).json()
    assert [n["id"] for n in listing["nodes"]] == [node.id]
    assert listing["nodes"][0]["drain_reason"] == "blocked"
    assert (await config.post(f"/v1/nodes/{node.id}/undrain", headers=MONITOR)).status_code == 200
    assert (await heartbeat(config, node.id, node.credential)).json()["drain"] is False


async def test_a_drain_reason_outside_the_list_is_422(config: Client) -> None:
    node = await enroll(config)
    answer = await config.post(
        "/node/drain", json={"id": node.id, "reason": "bored"}, headers=MONITOR
    )
    assert_problem(answer, 422)


async def test_the_node_listing_needs_the_monitor_credential(config: Client) -> None:
    node = await enroll(config)
    for refused in ({}, OPERATOR, node.auth):
        assert_problem(await config.get("/v1/nodes", headers=refused), 401)
    assert_problem(await config.get("/v1/nodes?status=odd", headers=MONITOR), 400)
    listing = (await config.get("/v1/nodes", headers=MONITOR)).json()["nodes"]
    assert [(n["id"], n["status"], n["instance_id"]) for n in listing] == [
        (node.id, "active", None)  # enrolled with a key, not as an attested instance
    ]


async def test_a_terminated_node_frees_its_pool_and_leases_and_its_credential_stops_working(
    config: Client, stores: Stores
) -> None:
    import os
    import uuid
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    from phoenix.config import leases

    node = await enroll(config)
    async with stores.nodedb.begin() as connection:
        await leases.allocate(
            connection, uuid.UUID(node.id), os.urandom(32), timedelta(hours=1), datetime.now(UTC)
        )
    assert_problem(await config.post(f"/v1/nodes/{node.id}/terminated"), 401)
    done = await config.post(f"/v1/nodes/{node.id}/terminated", headers=MONITOR)
    assert done.status_code == 200
    async with stores.nodedb.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM leases"))).scalar_one() == 0
    assert_problem(await heartbeat(config, node.id, node.credential), 404)
    successor = await enroll(config)
    assert successor.answer["ipv4_pool"] == node.answer["ipv4_pool"]  # the freed pool is reused


async def test_a_node_drained_as_compromised_is_never_undrained_nor_its_reason_softened(
    config: Client,
) -> None:
    node = await enroll(config)
    drain = {"id": node.id, "reason": "compromised"}
    assert (await config.post("/node/drain", json=drain, headers=MONITOR)).status_code == 200
    # A second drain with a milder reason (a mistake, or a stolen monitor token) keeps it.
    softer = {"id": node.id, "reason": "manual"}
    assert (await config.post("/node/drain", json=softer, headers=MONITOR)).status_code == 200
    refused = await config.post(f"/v1/nodes/{node.id}/undrain", headers=MONITOR)
    assert_problem(refused, 409)
    listing = (await config.get("/v1/nodes?status=draining", headers=MONITOR)).json()
    assert [(n["id"], n["drain_reason"]) for n in listing["nodes"]] == [(node.id, "compromised")]
    assert (await heartbeat(config, node.id, node.credential)).json()["drain"] is True
