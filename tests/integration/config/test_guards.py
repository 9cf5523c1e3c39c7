"""Who may call which route: the monitor's secret guards every monitor route alike, an unset one
lets nobody in, and a node's routes take only that node's credential."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from phoenix.config.app import create_app
from phoenix.config.settings import ConfigSettings
from tests.harness.nodes import OPERATOR, bearer, enroll
from tests.integration.config.conftest import MONITOR_TOKEN

Client = AsyncTestClient[Any]
SOME_NODE = uuid.UUID("00000000-0000-4000-8000-000000000000")
# Every monitor route, with a body it would accept: only the credential is wrong.
MONITOR_ROUTES = [
    ("POST", "/node/drain", {"id": str(SOME_NODE), "reason": "manual"}),
    ("POST", f"/v1/nodes/{SOME_NODE}/undrain", None),
    ("GET", "/v1/nodes", None),
    ("POST", f"/v1/nodes/{SOME_NODE}/terminated", None),
    ("POST", "/v1/admin/leases/sweep", None),
    ("POST", "/v1/admin/fleet/sweep", None),
]
WRONG = [
    {},
    {"authorization": "Bearer wrong"},
    {"authorization": f"Basic {MONITOR_TOKEN}"},
    {"authorization": f"Bearer {MONITOR_TOKEN}x"},
    OPERATOR,
]


async def ask(client: Client, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return await client.request(method, path, json=body, headers=headers)


def refused(answer: Any) -> bool:
    return (
        answer.status_code == 401
        and answer.headers["content-type"] == "application/problem+json"
        and answer.headers["www-authenticate"] == 'Bearer realm="phoenix-nodes"'
    )


async def test_every_monitor_route_refuses_anything_but_the_monitor_secret(config: Client) -> None:
    for method, path, body in MONITOR_ROUTES:
        for headers in WRONG:
            assert refused(await ask(config, method, path, body, headers)), (path, headers)


@pytest.fixture
async def unset_monitor(config_settings: ConfigSettings) -> Any:
    settings = msgspec.structs.replace(config_settings, monitor_token="")
    async with AsyncTestClient(create_app(settings), timeout=30) as client:
        yield client


async def test_an_unset_monitor_secret_lets_nobody_in(unset_monitor: Client) -> None:
    for method, path, body in MONITOR_ROUTES:
        for headers in ({}, {"authorization": "Bearer "}, {"authorization": "Bearer"}):
            assert refused(await ask(unset_monitor, method, path, body, headers)), (path, headers)


async def test_a_nodes_routes_take_its_own_credential_only(config: Client) -> None:
    node, other = await enroll(config), await enroll(config)
    for path in (f"/v1/nodes/{node.id}/heartbeat", f"/v1/nodes/{node.id}/peers?wait=0"):
        method = "POST" if path.endswith("heartbeat") else "GET"
        for headers in ({}, bearer(other.credential), {"authorization": f"Bearer {MONITOR_TOKEN}"}):
            assert refused(await ask(config, method, path, None, headers)), (path, headers)
