"""Every HTTP role under schemathesis, against its own /schema/openapi.json, bounded in time:
no 5xx, and every answer (status, content type, body) as the document says.

Credentials are real: a Firebase user of the emulator for the account and issuer routes, the
operator token for auth's admin routes, the node bootstrap and monitor tokens for config.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from phoenix.auth.issuer import DIRECTORY_MEDIA_TYPE
from tests.harness.processes import RoleServer
from tests.integration.auth.billing_world import ADMIN_TOKEN, BillingWorld
from tests.integration.config.conftest import MONITOR_TOKEN, NODE_TOKEN
from tests.integration.hardening.schemathesis_run import report, schemathesis

pytestmark = pytest.mark.slow


async def test_auth_answers_as_its_schema_says_and_never_5xx(billing: BillingWorld) -> None:
    person = await billing.person()
    base = billing.server.base_url
    as_user = await asyncio.to_thread(
        schemathesis, base, "--exclude-path-regex=^/v1/admin", headers=person.headers
    )
    assert as_user.returncode == 0, report(as_user)
    as_operator = await asyncio.to_thread(
        schemathesis,
        base,
        "--include-path-regex=^/v1/admin",
        headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert as_operator.returncode == 0, report(as_operator)
    # Found by the content-type check (not yet in CHECKS): it was documented as application/json.
    document = (await billing.http.get("/schema/openapi.json")).json()
    directory = document["paths"]["/.well-known/private-token-issuer-directory"]["get"]
    assert list(directory["responses"]["200"]["content"]) == [DIRECTORY_MEDIA_TYPE]


def test_config_answers_as_its_schema_says_and_never_5xx(config_server: RoleServer) -> None:
    base = config_server.base_url
    as_node = schemathesis(
        base, "--include-tag=nodes", headers={"authorization": f"Bearer {NODE_TOKEN}"}
    )
    assert as_node.returncode == 0, report(as_node)
    as_monitor = schemathesis(
        base, "--exclude-tag=nodes", headers={"authorization": f"Bearer {MONITOR_TOKEN}"}
    )
    assert as_monitor.returncode == 0, report(as_monitor)


@pytest.fixture
def analytics_server(tmp_path: Path) -> Iterator[RoleServer]:
    """The analytics role on its embedded engine (chDB), in a directory of the test's own."""
    env = {
        "PHOENIX_ENV": "test",
        "PHOENIX_CHDB_PATH": str(tmp_path / "chdb"),
        "PHOENIX_OPERATOR_TOKEN": ANALYTICS_OPERATOR,
    }
    server = RoleServer("analytics", env, tmp_path / "analytics.log").start()
    yield server
    server.stop()


ANALYTICS_OPERATOR = "analytics-operator-" + "o" * 24
# Found by this file on 2026-11-23 and reported to the analytics owner (whose code this is not):
REPORTS_500 = "reported: a report with `to` and no `from` (to=2000-01-01T00:00:00Z) is a 500"
EVENTS_202 = "reported: the 202 of POST /v1/events is documented as a string, sent as an object"
BAD_UTF8_500 = "reported: bad UTF-8 inside a JSON string of POST /v1/events is a 500, not a 400"


def test_analytics_answers_as_its_schema_says_and_never_5xx(analytics_server: RoleServer) -> None:
    result = schemathesis(
        analytics_server.base_url,
        "--exclude-path-regex=^/(v1/)?reports|^/v1/events$",
        headers={"authorization": f"Bearer {ANALYTICS_OPERATOR}"},
    )
    assert result.returncode == 0, report(result)


@pytest.mark.xfail(strict=True, reason=REPORTS_500)
def test_analytics_reports_never_5xx(analytics_server: RoleServer) -> None:
    result = schemathesis(
        analytics_server.base_url,
        "--include-path-regex=^/(v1/)?reports",
        headers={"authorization": f"Bearer {ANALYTICS_OPERATOR}"},
    )
    assert result.returncode == 0, report(result)


@pytest.mark.xfail(strict=True, reason=EVENTS_202)
def test_analytics_ingest_answers_as_its_schema_says(analytics_server: RoleServer) -> None:
    result = schemathesis(analytics_server.base_url, "--include-path-regex=^/v1/events$")
    assert result.returncode == 0, report(result)


@pytest.mark.xfail(strict=True, reason=BAD_UTF8_500)
def test_analytics_refuses_bad_utf8_with_a_400(analytics_server: RoleServer) -> None:
    answer = httpx.post(
        f"{analytics_server.base_url}/v1/events",
        content=b'{"events": [{"type": "\x80"}]}',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
