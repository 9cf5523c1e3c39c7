"""Redemption: a valid token buys exactly one WireGuard config, on a node with room for it.

Tokens are real type-2 tokens blind-signed with the issuer key the directory lists.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
from typing import Any

import httpx
import nacl.public
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from phoenix.config.settings import ConfigSettings
from phoenix.config.tokens import challenge
from phoenix.config.wgconfig import parse_wg_quick
from phoenix.crypto.privacypass.headers import build_authorization
from phoenix.crypto.wireguard import public_key
from tests.harness.issuer import mint_tokens, private_keys
from tests.harness.nodes import PUBLIC_IP, enroll
from tests.harness.processes import RoleServer, SpareRedis
from tests.integration.config.conftest import Stores, beat, wg_key

Client = AsyncTestClient[Any]
CLIENT_ADDRESS = "203.0.113.7"


def tokens_for(settings: ConfigSettings, count: int = 1) -> list[str]:
    return [
        build_authorization(raw)
        for raw in mint_tokens(private_keys(1)[0], challenge(settings), count)
    ]


async def live_node(
    client: httpx.AsyncClient | Client, location: str = "de-fra", **changes: Any
) -> dict[str, Any]:
    """A node enrolled in ``location`` that has sent its first heartbeat; its registration."""
    node = await enroll(client, location, **changes)
    answer = await client.post(f"/v1/nodes/{node.id}/heartbeat", json=beat(), headers=node.auth)
    assert answer.status_code == 200, answer.text
    return node.answer


async def connect(
    client: httpx.AsyncClient | Client,
    token: str | None,
    body: dict[str, Any] | None = None,
    **headers: str,
) -> httpx.Response:
    sent = dict(headers)
    if token is not None:
        sent["authorization"] = token
    return await client.post(
        "/v1/connect", json=body or {"location": "de-fra", "public_key": wg_key()}, headers=sent
    )


def assert_problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = answer.json()
    return problem


async def test_the_challenge_endpoint_gives_the_origin_challenge_and_the_issuer_key(
    config: Client, config_settings: ConfigSettings
) -> None:
    answer = await config.get("/v1/token-challenge")
    assert answer.status_code == 200
    (entry,) = answer.json()["challenges"]
    assert base64.urlsafe_b64decode(entry["challenge"]) == challenge(config_settings).encode()
    assert entry["token_type"] == 2
    assert entry["token_key"] is not None
    assert answer.headers["www-authenticate"].startswith("PrivateToken challenge=")


async def test_a_valid_token_buys_a_config_on_a_live_node(
    config: Client, config_settings: ConfigSettings
) -> None:
    await live_node(config, location="nl-ams")  # takes the first pool
    node = await live_node(config)
    key = wg_key()
    answer = await connect(
        config, tokens_for(config_settings)[0], {"location": "de-fra", "public_key": key}
    )
    assert answer.status_code == 200, answer.text
    config_json = answer.json()
    assert config_json["peer"]["endpoint"] == f"{PUBLIC_IP}:51820"
    assert config_json["peer"]["allowed_ips"] == ["0.0.0.0/0", "::/0"]
    assert config_json["peer"]["persistent_keepalive"] == 25
    assert config_json["interface"]["addresses"][0].startswith(node["ipv4_pool"].rsplit(".", 2)[0])
    assert "private_key" not in config_json["interface"]
    # The resolver is the client's own node (its pool's first host), reachable in the tunnel.
    pool = ipaddress.ip_network(node["ipv4_pool"])
    assert config_json["interface"]["dns"] == [str(pool.network_address + 1)]
    feed = await config.get(
        f"/v1/nodes/{node['node_id']}/peers",
        params={"since": 0, "wait": 0},
        headers={"authorization": f"Bearer {node['node_credential']}"},
    )
    assert feed.json()["changes"][0]["public_key"] == key


async def test_a_wg_quick_file_is_answered_for_text_plain(
    config: Client, config_settings: ConfigSettings
) -> None:
    await live_node(config)
    answer = await connect(config, tokens_for(config_settings)[0], accept="text/plain")
    assert answer.status_code == 200
    # Found by schemathesis's content-type check: it was "text/plain; charset=utf-8; charset=utf-8".
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    parsed = parse_wg_quick(answer.text)
    assert parsed.peer.endpoint == f"{PUBLIC_IP}:51820"


async def test_server_generated_keys_come_sealed_to_the_clients_box_key(
    config: Client, config_settings: ConfigSettings, stores: Stores
) -> None:
    node = await live_node(config)
    box = nacl.public.PrivateKey.generate()
    body = {
        "location": "de-fra",
        "box_public_key": base64.b64encode(bytes(box.public_key)).decode(),
    }
    answer = await connect(config, tokens_for(config_settings)[0], body)
    assert answer.status_code == 200, answer.text
    sealed = base64.b64decode(answer.json()["interface"]["private_key"])
    private = base64.b64decode(nacl.public.SealedBox(box).decrypt(sealed))
    async with stores.nodedb.connect() as connection:
        keys = (
            (
                await connection.execute(
                    text("SELECT public_key FROM leases WHERE node_id = :n"), {"n": node["node_id"]}
                )
            )
            .scalars()
            .all()
        )
    assert keys == [public_key(private)]


async def test_a_spent_token_is_refused_with_its_own_problem_type(
    config: Client, config_settings: ConfigSettings
) -> None:
    await live_node(config)
    token = tokens_for(config_settings)[0]
    assert (await connect(config, token)).status_code == 200
    problem = assert_problem(await connect(config, token), 401)
    assert problem["type"].endswith("/token-spent")


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer abc", 'PrivateToken token="!!!"', 'PrivateToken token="AAAA"', "PrivateToken"],
)
async def test_a_missing_or_malformed_token_is_401_with_a_challenge(
    config: Client, authorization: str | None
) -> None:
    await live_node(config)
    answer = await connect(config, authorization)
    assert_problem(answer, 401)
    assert answer.headers["www-authenticate"].startswith("PrivateToken challenge=")


async def test_a_token_from_another_issuer_key_or_challenge_is_401(
    config: Client, config_settings: ConfigSettings
) -> None:
    from msgspec import structs

    await live_node(config)
    foreign_key = mint_tokens(private_keys(2)[1], challenge(config_settings))[0]
    assert_problem(await connect(config, build_authorization(foreign_key)), 401)
    other_origin = structs.replace(config_settings, origin_name="elsewhere.example")
    assert_problem(await connect(config, tokens_for(other_origin)[0]), 401)


async def test_bad_bodies_are_4xx_and_do_not_spend_the_token(
    config: Client, config_settings: ConfigSettings
) -> None:
    await live_node(config)
    token = tokens_for(config_settings)[0]
    assert_problem(await connect(config, token, {"location": "de-fra", "public_key": "short"}), 422)
    assert_problem(await connect(config, token, {"location": "de-fra"}), 422)
    assert_problem(
        await connect(config, token, {"location": "xx-nowhere", "public_key": wg_key()}), 404
    )
    assert (await connect(config, token)).status_code == 200


async def test_a_blocking_variant_is_asked_per_connect_and_the_node_learns_its_address(
    config: Client, config_settings: ConfigSettings
) -> None:
    node = await live_node(config)
    assert node["resolvers"] == {"base": "100.64.0.2"}  # what the node serves, and where
    tokens = tokens_for(config_settings, 2)
    body = {"location": "de-fra", "public_key": wg_key()}
    blocked = await connect(config, tokens[0], {**body, "dns": "base"})
    assert blocked.status_code == 200, blocked.text
    assert blocked.json()["interface"]["dns"] == ["100.64.0.2"]
    plain = await connect(config, tokens[1], {**body, "public_key": wg_key(), "dns": None})
    pool = ipaddress.ip_network(node["ipv4_pool"])
    assert plain.json()["interface"]["dns"] == [str(pool.network_address + 1)]


async def test_an_unknown_dns_variant_is_422_and_does_not_spend_the_token(
    config: Client, config_settings: ConfigSettings
) -> None:
    await live_node(config)
    token = tokens_for(config_settings)[0]
    body = {"location": "de-fra", "public_key": wg_key()}
    problem = assert_problem(await connect(config, token, {**body, "dns": "everything"}), 422)
    assert problem["type"].endswith("unknown-dns-variant")
    assert "base" in problem["detail"]
    assert_problem(await connect(config, token, {**body, "dns": "Not A Variant!"}), 422)
    assert (await connect(config, token, {**body, "dns": "base"})).status_code == 200


async def test_a_full_node_sends_the_client_elsewhere_and_all_full_is_503(
    config_settings: ConfigSettings,
) -> None:
    from msgspec import structs

    from phoenix.config.app import create_app

    small = structs.replace(config_settings, tunnel_ipv4_pool_prefix=29)  # 5 clients per node
    async with AsyncTestClient(create_app(small), timeout=30) as client:
        nodes = [await live_node(client), await live_node(client)]
        tokens = tokens_for(small, 11)
        answers = [await connect(client, token) for token in tokens[:10]]
        assert [a.status_code for a in answers] == [200] * 10
        pools = {
            ipaddress.ip_interface(
                a.json()["interface"]["addresses"][0].split("/")[0] + "/29"
            ).network
            for a in answers
        }
        assert {str(p) for p in pools} == {n["ipv4_pool"] for n in nodes}
        problem = assert_problem(await connect(client, tokens[10]), 503)
        assert problem["type"].endswith("/no-capacity")
        assert (await connect(client, tokens[10])).status_code == 503  # and it was not spent


async def test_fifty_concurrent_redemptions_of_one_token_give_one_config(
    config_server: RoleServer, config_settings: ConfigSettings, stores: Stores
) -> None:
    token = tokens_for(config_settings)[0]
    async with httpx.AsyncClient(base_url=config_server.base_url, timeout=30) as client:
        await live_node(client)
        answers = await asyncio.gather(*(connect(client, token) for _ in range(50)))
    assert sorted(a.status_code for a in answers) == [200] + [401] * 49
    async with stores.nodedb.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM leases"))).scalar_one() == 1


async def test_redis_down_fails_closed_and_the_token_works_later(
    config_server: RoleServer,
    config_settings: ConfigSettings,
    stores: Stores,
    spare_redis: SpareRedis,
) -> None:
    token = tokens_for(config_settings)[0]
    async with httpx.AsyncClient(base_url=config_server.base_url, timeout=30) as client:
        await live_node(client)
        spare_redis.stop()
        down = await connect(client, token)
        assert_problem(down, 503)
        assert "retry-after" in down.headers
        async with stores.nodedb.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM leases"))).scalar_one() == 0
        spare_redis.start()
        await live_node(client)  # the restarted Redis lost the heartbeats: beat again
        assert (await connect(client, token)).status_code == 200


async def test_no_client_address_reaches_a_log_nodedb_row_or_redis_value(
    config_server: RoleServer, config_settings: ConfigSettings, stores: Stores
) -> None:
    async with httpx.AsyncClient(base_url=config_server.base_url, timeout=30) as client:
        await live_node(client)
        answer = await connect(
            client,
            tokens_for(config_settings)[0],
            **{
                "x-forwarded-for": CLIENT_ADDRESS,
                "x-real-ip": CLIENT_ADDRESS,
                "forwarded": f"for={CLIENT_ADDRESS}",
            },
        )
        assert answer.status_code == 200
    config_server.stop()
    logs = config_server.logs()
    assert CLIENT_ADDRESS not in logs
    assert "/v1/connect" in config_server.routes_logged()
    async with stores.nodedb.connect() as connection:
        for table in ("nodes", "leases"):
            rows = (await connection.execute(text(f"SELECT * FROM {table}"))).all()  # noqa: S608
            assert CLIENT_ADDRESS not in repr(rows)
            assert "127.0.0.1" not in repr(rows)
    for key in await stores.redis.keys("*"):
        kind = await stores.redis.type(key)
        if kind == b"string":
            values = [await stores.redis.get(key)]
        elif kind == b"stream":
            values = [repr(await stores.redis.xrange(key)).encode()]
        else:
            values = [repr(kind).encode()]
        for value in values:
            assert CLIENT_ADDRESS.encode() not in (value or b"")
            assert b"127.0.0.1" not in (value or b"")


async def test_redis_down_is_a_503_on_every_route_that_needs_it_never_a_500(
    config_server: RoleServer, spare_redis: SpareRedis
) -> None:
    async with httpx.AsyncClient(base_url=config_server.base_url, timeout=30) as client:
        node = await live_node(client)
        spare_redis.stop()
        beat_answer = await client.post(
            f"/v1/nodes/{node['node_id']}/heartbeat",
            json=beat(),
            headers={"authorization": f"Bearer {node['node_credential']}"},
        )
        for answer in (beat_answer, await client.get("/v1/locations")):
            problem = assert_problem(answer, 503)
            assert problem["type"].endswith("/redis-unavailable")
            assert answer.headers["retry-after"]
        spare_redis.start()
        assert (await client.get("/v1/locations")).status_code == 200
