"""What the config role tells Prometheus: redemptions by outcome, waiting long-polls, the fleet's
census and the directory's freshness — aggregates only, and an exposition promtool accepts.

The role runs in process on its own NodeDB and Redis; counters are read before and after, since
every test of this process shares one registry.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from phoenix.config.census import Census
from phoenix.config.directory import IssuerDirectoryClient
from phoenix.config.settings import ConfigSettings
from tests.harness.nodes import enroll
from tests.harness.processes import RoleServer
from tests.harness.scrape import label_leaks, promtool_problems, sample, scrape
from tests.integration.config.conftest import MONITOR_TOKEN, Stores, beat, wg_key
from tests.integration.config.test_connect import connect, live_node, tokens_for

Client = AsyncTestClient[Any]
REDEMPTIONS = "phoenix_config_redemptions_total"
PEERS_ROUTE = "/v1/nodes/{node_id}/peers"
LONG_POLLS = "phoenix_long_poll_duration_seconds_count"
MONITOR = {"authorization": f"Bearer {MONITOR_TOKEN}"}


async def outcomes(config: Client) -> dict[str, float]:
    text = await scrape(config.app)
    names = ("ok", "spent", "invalid", "no_capacity", "unavailable", "bad_request", "error")
    return {outcome: sample(text, REDEMPTIONS, outcome=outcome) for outcome in names}


async def test_each_connect_counts_once_under_its_outcome(
    config: Client, config_settings: ConfigSettings
) -> None:
    await live_node(config)
    before = await outcomes(config)
    [token] = tokens_for(config_settings)
    assert (await connect(config, token)).status_code == 200
    assert (await connect(config, token)).status_code == 401  # spent
    assert (await connect(config, "PrivateToken token=AAAA")).status_code == 401  # invalid
    body = {"location": "de-fra", "public_key": "not a key"}
    [fresh] = tokens_for(config_settings)
    assert (await connect(config, fresh, body)).status_code == 422  # the caller's mistake
    after = await outcomes(config)
    moved = {outcome: after[outcome] - before[outcome] for outcome in after}
    assert moved == {
        "ok": 1, "spent": 1, "invalid": 1, "bad_request": 1,
        "no_capacity": 0, "unavailable": 0, "error": 0,
    }  # fmt: skip


async def test_a_location_without_room_counts_as_no_capacity(
    config: Client, config_settings: ConfigSettings
) -> None:
    node = await enroll(config, "nl-ams")
    await config.post(f"/v1/nodes/{node.id}/heartbeat", json=beat(), headers=node.auth)
    drained = await config.post(
        "/node/drain", json={"id": node.id, "reason": "manual"}, headers=MONITOR
    )
    assert drained.status_code == 200
    before = await outcomes(config)
    [token] = tokens_for(config_settings)
    body = {"location": "nl-ams", "public_key": wg_key()}
    assert (await connect(config, token, body)).status_code == 503
    after = await outcomes(config)
    assert after["no_capacity"] - before["no_capacity"] == 1
    assert after["unavailable"] == before["unavailable"]


async def test_a_long_poll_is_counted_while_it_waits_and_timed_in_its_own_series(
    config_server: RoleServer, config_settings: ConfigSettings
) -> None:
    async with (
        httpx.AsyncClient(base_url=config_server.base_url, timeout=30) as config,
        httpx.AsyncClient(base_url=config_server.ops_url, timeout=30) as ops,
    ):

        async def metrics() -> str:
            return (await ops.get("/metrics")).text

        node = await enroll(config)
        await config.post(f"/v1/nodes/{node.id}/heartbeat", json=beat(), headers=node.auth)
        first = await config.get(f"/v1/nodes/{node.id}/peers?since=-1", headers=node.auth)
        revision = first.json()["revision"]
        text = await metrics()
        polls_before = sample(text, LONG_POLLS, app_name="phoenix_config", status_code="200")
        assert sample(text, "phoenix_config_long_polls_waiting") == 0

        waiting = asyncio.create_task(
            config.get(f"/v1/nodes/{node.id}/peers?since={revision}&wait=20", headers=node.auth)
        )
        deadline = time.monotonic() + 15
        while sample(await metrics(), "phoenix_config_long_polls_waiting") != 1:
            assert time.monotonic() < deadline, "the waiting long-poll was never counted"
            await asyncio.sleep(0.05)
        [token] = tokens_for(config_settings)
        assert (await connect(config, token)).status_code == 200  # a change wakes the poll
        woken = await waiting
        assert woken.status_code == 200
        assert woken.json()["changes"]

        text = await metrics()
    assert sample(text, "phoenix_config_long_polls_waiting") == 0
    assert (
        sample(text, LONG_POLLS, app_name="phoenix_config", status_code="200") == polls_before + 1
    )
    # The 25 s waits stay out of the request histogram, whose buckets fit sub-millisecond work,
    # and are still counted as requests.
    durations = [line for line in text.splitlines() if line.startswith("phoenix_request_dur")]
    assert not [line for line in durations if PEERS_ROUTE in line]
    assert [line for line in durations if '"/v1/connect"' in line]
    assert f'path="{PEERS_ROUTE}"' in text


async def test_the_census_counts_nodes_by_status_and_location_and_leases_and_zeroes_the_gone(
    config: Client, config_settings: ConfigSettings, stores: Stores
) -> None:
    census = Census(stores.nodedb, stores.redis)
    await census.take()
    text = await scrape(config.app)
    assert sample(text, "phoenix_config_nodes", status="active", location="cz-census") == 0

    nodes = [await enroll(config, "cz-census") for _ in range(3)]
    for node in nodes[:2]:
        await config.post(f"/v1/nodes/{node.id}/heartbeat", json=beat(), headers=node.auth)
    # The one node whose guard holds a snapshot back says so in its heartbeat.
    held = beat(guard_held=True)
    await config.post(f"/v1/nodes/{nodes[2].id}/heartbeat", json=held, headers=nodes[2].auth)
    await config.post("/node/drain", json={"id": nodes[0].id, "reason": "manual"}, headers=MONITOR)
    [token] = tokens_for(config_settings)
    body = {"location": "cz-census", "public_key": wg_key()}
    assert (await connect(config, token, body)).status_code == 200
    started = time.time()
    await census.take()
    text = await scrape(config.app)
    assert sample(text, "phoenix_config_nodes", status="active", location="cz-census") == 2
    assert sample(text, "phoenix_config_nodes", status="draining", location="cz-census") == 1
    assert sample(text, "phoenix_config_nodes", status="lost", location="cz-census") == 0
    assert sample(text, "phoenix_config_leases_active", location="cz-census") == 1
    assert sample(text, "phoenix_config_nodes_guard_held", location="cz-census") == 1
    assert sample(text, "phoenix_config_census_timestamp_seconds") >= started

    # Every node of the location retired: its counts go to 0 rather than stay at their last.
    for node in nodes:
        answer = await config.post(f"/v1/nodes/{node.id}/terminated", headers=MONITOR)
        assert answer.status_code == 200, answer.text
    await census.take()
    text = await scrape(config.app)
    assert sample(text, "phoenix_config_nodes", status="active", location="cz-census") == 0
    assert sample(text, "phoenix_config_nodes", status="terminated", location="cz-census") == 3
    assert sample(text, "phoenix_config_leases_active", location="cz-census") == 0
    assert sample(text, "phoenix_config_nodes_guard_held", location="cz-census") == 0


async def test_the_census_says_when_redis_may_evict_spent_marks(
    config: Client, stores: Stores
) -> None:
    census = Census(stores.nodedb, stores.redis)
    policy = (await stores.redis.config_get("maxmemory-policy"))["maxmemory-policy"]
    try:
        await stores.redis.config_set("maxmemory-policy", "volatile-lru")
        await census.take()
        assert sample(await scrape(config.app), "phoenix_config_redis_noeviction") == 0
        await stores.redis.config_set("maxmemory-policy", "noeviction")
        await census.take()
        assert sample(await scrape(config.app), "phoenix_config_redis_noeviction") == 1
    finally:
        await stores.redis.config_set("maxmemory-policy", policy)


async def test_directory_reads_are_timestamped_and_failures_counted(
    config: Client, issuer_directory: Any
) -> None:
    started = time.time()
    async with IssuerDirectoryClient(issuer_directory.url) as client:
        assert client.ready()
    text = await scrape(config.app)
    assert sample(text, "phoenix_config_directory_refresh_timestamp_seconds") >= started
    failures = sample(text, "phoenix_config_directory_refresh_failures_total")
    away = IssuerDirectoryClient("http://127.0.0.1:9/directory", timeout=1)
    await away.start()
    await away.stop()
    text = await scrape(config.app)
    assert sample(text, "phoenix_config_directory_refresh_failures_total") == failures + 1


async def test_the_exposition_passes_promtool_and_no_label_names_anyone(
    config: Client, config_settings: ConfigSettings, stores: Stores
) -> None:
    registration = await live_node(config)
    [token] = tokens_for(config_settings)
    client_key = wg_key()
    body = {"location": "de-fra", "public_key": client_key}
    answer = await connect(config, token, body, **{"x-forwarded-for": "203.0.113.9"})
    assert answer.status_code == 200
    await Census(stores.nodedb, stores.redis).take()
    text = await scrape(config.app)
    assert 'phoenix_build_info{role="config"' in text
    assert promtool_problems(text) == ""
    credential = str(registration["node_credential"])
    secrets = [str(registration["node_id"]), credential, client_key, token, "203.0.113.9"]
    assert label_leaks(text, secrets) == []


def test_the_sweep_finds_what_it_is_there_to_find() -> None:
    """The label sweep itself: each kind of leak it exists for is caught."""
    leaky = "\n".join(
        [
            "# TYPE x gauge",
            'x{location="de-fra"} 1',
            'x{client="a"} 1',
            'x{location="10.0.0.7"} 1',
            'x{location="fd00::7"} 1',
            'x{path="/v1/nodes/3f1c1f0e-6f55-4bb4-9a0e-35d3f3e5a8b1/peers"} 1',
            'x{location="' + "A" * 43 + '="} 1',
            'x{location="uid-of-someone"} 1',
        ]
    )
    leaks = label_leaks(leaky + "\n", ["uid-of-someone"])
    assert [leak[2] for leak in leaks] == [
        "a", "10.0.0.7", "fd00::7", "/v1/nodes/3f1c1f0e-6f55-4bb4-9a0e-35d3f3e5a8b1/peers",
        "A" * 43 + "=", "uid-of-someone",
    ]  # fmt: skip


def test_promtool_refuses_what_prometheus_would_not_take() -> None:
    problems = promtool_problems("# TYPE x counter\nx 1\n")
    assert 'counter metrics should have "_total" suffix' in problems
