"""Every registration proves the node holds the private key of the key it names."""

from __future__ import annotations

import base64
from typing import Any

from litestar.testing import AsyncTestClient

from tests.harness.nodes import bearer, mint, new_keys, node_body, prove, register
from tests.integration.config.node_trust.test_enrollment_keys import problem

Client = AsyncTestClient[Any]


async def challenge(config: Client) -> dict[str, Any]:
    answer = await config.post("/v1/nodes/challenge")
    assert answer.status_code == 201
    result: dict[str, Any] = answer.json()
    return result


async def test_a_challenge_is_a_nonce_and_a_server_key(config: Client) -> None:
    one, two = await challenge(config), await challenge(config)
    assert len(base64.b64decode(one["nonce"])) == 32
    assert len(base64.b64decode(one["server_key"])) == 32
    assert one["nonce"] != two["nonce"]
    assert one["server_key"] != two["server_key"]
    assert one["expires_in"] == 60


async def test_a_proof_made_with_another_private_key_is_refused(config: Client) -> None:
    (key,) = await mint(config)
    named, holder = new_keys(), new_keys()
    body = prove(node_body(named), holder, await challenge(config))  # names one, holds another
    answer = await config.post("/v1/nodes/register", json=body, headers=bearer(key))
    problem(answer, 401, "bad-proof")
    # Nothing was spent: the key still enrolls the node that does hold its key.
    assert (await register(config, named, node_body(named), key)).status_code == 201


async def test_a_replayed_proof_is_refused(config: Client) -> None:
    keys_a = new_keys()
    key_a, key_b = await mint(config, count=2)
    seen = prove(node_body(keys_a), keys_a, await challenge(config))
    first = await config.post("/v1/nodes/register", json=seen, headers=bearer(key_a))
    assert first.status_code == 201, first.text
    replay = await config.post("/v1/nodes/register", json=seen, headers=bearer(key_b))
    problem(replay, 401, "bad-proof")


async def test_a_proof_covers_the_claimed_address_location_and_port(config: Client) -> None:
    (key,) = await mint(config)
    keys = new_keys()
    for change in ({"public_ip": "203.0.114.99"}, {"listen_port": 51821}, {"location": "nl-ams"}):
        proven = prove(node_body(keys), keys, await challenge(config))
        answer = await config.post(
            "/v1/nodes/register", json={**proven, **change}, headers=bearer(key)
        )
        assert answer.status_code in (401, 403), answer.text
        if answer.status_code == 401:
            problem(answer, 401, "bad-proof")


async def test_an_unknown_nonce_or_a_missing_proof_is_refused(config: Client) -> None:
    (key,) = await mint(config)
    keys = new_keys()
    proven = prove(node_body(keys), keys, await challenge(config))
    forged = {
        **proven,
        "proof": {**proven["proof"], "nonce": base64.b64encode(b"\1" * 32).decode()},
    }
    problem(
        await config.post("/v1/nodes/register", json=forged, headers=bearer(key)), 401, "bad-proof"
    )
    problem(await config.post("/v1/nodes/register", json=node_body(keys), headers=bearer(key)), 422)
    assert (await register(config, keys, node_body(keys), key)).status_code == 201
