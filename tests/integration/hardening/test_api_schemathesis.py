"""Every HTTP role under schemathesis, against its own /schema/openapi.json, bounded in time:
no 5xx, and every answer (status, content type, body) as the document says.

Credentials are real: a Firebase user of the emulator for the account and issuer routes, the
operator token for auth's admin routes; for config, an enrollment key the operator minted, the
operator token and the monitor token.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from phoenix.auth.issuer import DIRECTORY_MEDIA_TYPE
from tests.harness.nodes import OPERATOR, mint_sync
from tests.harness.processes import RoleServer
from tests.integration.auth.billing_world import ADMIN_TOKEN, BillingWorld
from tests.integration.config.conftest import MONITOR_TOKEN
from tests.integration.hardening.schemathesis_run import report, schemathesis

pytestmark = pytest.mark.slow

# Operations where data valid by the schema is still refused, by design, and why.
AUTH_REFUSES_VALID_DATA = {
    "POST /v1/tokens": "a TokenRequest must name the issuer's key and blind a message below "
    "its modulus (422 otherwise); random bytes of any documented shape do not",
    "GET /v1/account/invoices": "a cursor is one the server handed out (400 otherwise)",
    "POST /v1/webhooks/stripe": "a delivery must carry Stripe's HMAC of its body (400 otherwise)",
    "POST /v1/webhooks/apple": "signedPayload must be a JWS the App Store signed (400 otherwise)",
}
# A registration proves the node's key against a challenge the server made, once (BadProof
# otherwise) and names a public address clients could reach (422 otherwise): random data of the
# documented shape does neither. So the enrollment routes are checked for answering random input
# with documented problems, never for accepting it.
CONFIG_REFUSES_VALID_DATA = {
    "POST /v1/nodes/register": "a registration carries a proof of a server-made challenge and a "
    "global unicast public_ip",
}
# `from` must precede `to` by at most 400 days (400 otherwise): a relation between two
# parameters, which OpenAPI cannot state, so random date-times break it.
REPORTS_REFUSE_VALID_DATA = dict.fromkeys(
    [
        "GET /v1/reports/connection-failures",
        "GET /v1/reports/usage",
        "GET /v1/reports/value",
        "GET /v1/reports/performance",
        "GET /reports",
    ],
    "from must precede to, by at most 400 days",
)


async def test_auth_answers_as_its_schema_says_and_never_5xx(billing: BillingWorld) -> None:
    person = await billing.person()
    as_user = await asyncio.to_thread(
        schemathesis,
        billing.server,
        "--exclude-path-regex=^/v1/admin",
        headers=person.headers,
        refuses_valid_data=AUTH_REFUSES_VALID_DATA,
    )
    assert as_user.returncode == 0, report(as_user)
    as_operator = await asyncio.to_thread(
        schemathesis,
        billing.server,
        "--include-path-regex=^/v1/admin",
        headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert as_operator.returncode == 0, report(as_operator)
    # Found by the content-type check: it was documented as application/json.
    async with httpx.AsyncClient(base_url=billing.server.ops_url) as ops:
        document = (await ops.get("/schema/openapi.json")).json()
    directory = document["paths"]["/.well-known/private-token-issuer-directory"]["get"]
    assert list(directory["responses"]["200"]["content"]) == [DIRECTORY_MEDIA_TYPE]


def test_config_answers_as_its_schema_says_and_never_5xx(config_server: RoleServer) -> None:
    base = config_server.base_url
    enrollment_key = mint_sync(base)
    as_node = schemathesis(
        config_server,
        "--include-tag=nodes",
        headers={"authorization": f"Bearer {enrollment_key}"},
        refuses_valid_data=CONFIG_REFUSES_VALID_DATA,
    )
    assert as_node.returncode == 0, report(as_node)
    as_operator = schemathesis(config_server, "--include-tag=operator", headers=OPERATOR)
    assert as_operator.returncode == 0, report(as_operator)
    as_monitor = schemathesis(
        config_server,
        "--exclude-tag=nodes",
        "--exclude-tag=operator",
        headers={"authorization": f"Bearer {MONITOR_TOKEN}"},
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


def test_analytics_answers_as_its_schema_says_and_never_5xx(analytics_server: RoleServer) -> None:
    result = schemathesis(
        analytics_server,
        "--exclude-path-regex=^/(v1/)?reports|^/v1/events$",
        headers={"authorization": f"Bearer {ANALYTICS_OPERATOR}"},
    )
    assert result.returncode == 0, report(result)


def test_analytics_ingest_and_reports_on_a_migrated_store_answer_as_their_schema_says(
    tmp_path: Path,
) -> None:
    env = {
        "PHOENIX_ENV": "test",
        "PHOENIX_CHDB_PATH": str(tmp_path / "chdb"),
        "PHOENIX_OPERATOR_TOKEN": ANALYTICS_OPERATOR,
    }
    migrated = subprocess.run(
        [sys.executable, "-m", "phoenix", "migrate", "--db", "analytics"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    server = RoleServer("analytics", env, tmp_path / "analytics.log").start()
    try:
        result = schemathesis(
            server,
            "--include-path-regex=^/(v1/)?reports|^/v1/events$",
            headers={"authorization": f"Bearer {ANALYTICS_OPERATOR}"},
            refuses_valid_data=REPORTS_REFUSE_VALID_DATA,
        )
    finally:
        server.stop()
    assert result.returncode == 0, report(result)


def test_a_report_the_store_cannot_answer_is_a_503_not_a_500(
    analytics_server: RoleServer,
) -> None:
    """Found by schemathesis: a report query the store fails (here: a store nobody migrated)
    was a 500; it is a 503 problem now, and the SQL stays in the server's log."""
    answer = httpx.get(
        f"{analytics_server.base_url}/v1/reports/usage",
        params={"to": "2000-01-01T00:00:00Z"},
        headers={"authorization": f"Bearer {ANALYTICS_OPERATOR}"},
    )
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert "SELECT" not in answer.text


def test_the_202_of_events_is_documented_as_the_object_it_is(
    analytics_server: RoleServer,
) -> None:
    """Found by schemathesis: the 202 was documented as a string."""
    document = httpx.get(f"{analytics_server.ops_url}/schema/openapi.json").json()
    accepted = document["paths"]["/v1/events"]["post"]["responses"]["202"]
    schema = accepted["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Accepted"}
    properties = document["components"]["schemas"]["Accepted"]["properties"]
    assert properties["accepted"]["type"] == "integer"


def test_bad_utf8_in_a_string_is_a_400(analytics_server: RoleServer) -> None:
    """Found by the codec fuzzer: it was a 500."""
    answer = httpx.post(
        f"{analytics_server.base_url}/v1/events",
        content=b'{"events": [{"type": "\x80"}]}',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400
