"""New nodes per location and hour are capped; with manual approval they wait as pending."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.harness.nodes import OPERATOR, enroll, mint, new_keys, node_body, register
from tests.integration.config.conftest import MONITOR_TOKEN, beat
from tests.integration.config.node_trust.conftest import ConfigFactory
from tests.integration.config.node_trust.test_enrollment_keys import problem

Client = AsyncTestClient[Any]


async def test_registrations_over_the_hourly_cap_are_429(config_with: ConfigFactory) -> None:
    async with config_with(node_registrations_per_hour=2) as config:
        await enroll(config, "de-fra")
        await enroll(config, "de-fra")
        (key,) = await mint(config, "de-fra")
        keys = new_keys()
        answer = await register(config, keys, node_body(keys), key)
        problem(answer, 429, "registrations-capped")
        assert int(answer.headers["retry-after"]) > 0
        await enroll(config, "nl-ams")  # another location has its own count
        # The key was not spent by the refusal; re-registering enrolled nodes is never capped.
        (again,) = await mint(config, "nl-ams")
        assert (await register(config, keys, node_body(keys, "nl-ams"), again)).status_code == 201


async def test_a_pending_node_gets_no_users_until_approved(config_with: ConfigFactory) -> None:
    async with config_with(node_approval="manual") as config:
        node = await enroll(config, "de-fra")
        assert node.answer["status"] == "pending"
        beat_answer = await config.post(
            f"/v1/nodes/{node.id}/heartbeat", json=beat(), headers=node.auth
        )
        assert beat_answer.json() == {"drain": False, "revision": 0}
        assert (await config.get("/v1/locations")).json() == {"locations": []}
        monitor = {"authorization": f"Bearer {MONITOR_TOKEN}"}
        problem(await config.post(f"/v1/nodes/{node.id}/approve", headers=monitor), 401)
        approved = await config.post(f"/v1/nodes/{node.id}/approve", headers=OPERATOR)
        assert approved.json() == {"id": node.id, "status": "active"}
        problem(await config.post(f"/v1/nodes/{node.id}/approve", headers=OPERATOR), 404)
        await config.post(f"/v1/nodes/{node.id}/heartbeat", json=beat(), headers=node.auth)
        locations = (await config.get("/v1/locations")).json()["locations"]
        assert [entry["location"] for entry in locations] == ["de-fra"]
