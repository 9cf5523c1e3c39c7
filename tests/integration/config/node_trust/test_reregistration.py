"""A node is its key: an enrolled key never moves, never changes hands, never comes back."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.harness.nodes import enroll, mint, new_keys, node_body, register
from tests.integration.config.conftest import MONITOR_TOKEN, beat
from tests.integration.config.node_trust.test_enrollment_keys import problem

Client = AsyncTestClient[Any]
MONITOR = {"authorization": f"Bearer {MONITOR_TOKEN}"}


async def listed(config: Client) -> list[dict[str, Any]]:
    answer = await config.get("/v1/nodes", headers=MONITOR)
    nodes: list[dict[str, Any]] = answer.json()["nodes"]
    return nodes


async def test_a_new_enrollment_key_cannot_take_over_an_enrolled_key(config: Client) -> None:
    """The attack of the issue: the dev node's public key (printed in every client config),
    a fresh enrollment key, another address and location."""
    node = await enroll(config, "de-fra")
    (fresh,) = await mint(config, "zz-evil")
    hijack = node_body(node.keys, "zz-evil", public_ip="198.51.100.66")
    problem(await register(config, node.keys, hijack, fresh), 422)  # documentation address
    hijack = node_body(node.keys, "zz-evil", public_ip="203.0.114.66")
    problem(await register(config, node.keys, hijack, fresh), 409, "node-exists")
    (same_place,) = await mint(config, "de-fra")
    problem(await register(config, node.keys, node_body(node.keys), same_place), 409, "node-exists")
    [row] = await listed(config)
    assert (row["location"], row["public_ip"]) == ("de-fra", "203.0.114.10")
    heartbeat = await config.post(f"/v1/nodes/{node.id}/heartbeat", json=beat(), headers=node.auth)
    assert heartbeat.status_code == 200  # the real node's credential still stands


async def test_its_own_credential_registers_it_again_with_a_new_one(config: Client) -> None:
    node = await enroll(config)
    again = await register(config, node.keys, node_body(node.keys), node.credential)
    assert again.status_code == 201, again.text
    renewed = again.json()
    assert renewed["node_id"] == node.id
    assert renewed["ipv4_pool"] == node.answer["ipv4_pool"]
    assert renewed["node_credential"] != node.credential
    old = await config.post(f"/v1/nodes/{node.id}/heartbeat", json=beat(), headers=node.auth)
    problem(old, 401)


async def test_a_wrong_credential_is_401_and_a_moved_node_is_409(config: Client) -> None:
    node = await enroll(config)
    problem(await register(config, node.keys, node_body(node.keys), "pnc_wrong"), 401)
    moved = node_body(node.keys, public_ip="203.0.114.77")
    problem(await register(config, node.keys, moved, node.credential), 409, "node-exists")
    elsewhere = node_body(node.keys, "nl-ams")
    problem(await register(config, node.keys, elsewhere, node.credential), 409, "node-exists")
    another = new_keys()  # a credential belongs to its node's key only
    problem(await register(config, another, node_body(another), node.credential), 401)


async def test_terminated_and_compromised_keys_never_come_back(config: Client) -> None:
    gone, bad = await enroll(config), await enroll(config)
    answer = await config.post(f"/v1/nodes/{gone.id}/terminated", headers=MONITOR)
    assert answer.status_code == 200
    drain = await config.post(
        "/node/drain", json={"id": bad.id, "reason": "compromised"}, headers=MONITOR
    )
    assert drain.status_code == 200
    problem(
        await register(config, bad.keys, node_body(bad.keys), bad.credential), 409, "node-retired"
    )
    for node in (gone, bad):
        (key,) = await mint(config)
        problem(await register(config, node.keys, node_body(node.keys), key), 409, "node-retired")
