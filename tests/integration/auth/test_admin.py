"""The operator's retention endpoint: processed webhook ids are forgotten after the window."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text

from phoenix.worker.retention import Retention, RetentionTarget
from tests.integration.auth.billing_world import ADMIN_TOKEN, BillingWorld, problem

pytestmark = pytest.mark.slow
PATH = "/v1/admin/webhooks/retention"


async def test_old_webhook_ids_are_forgotten_and_recent_ones_kept(billing: BillingWorld) -> None:
    async with billing.userdb.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO processed_webhooks (source, event_id, processed_at) VALUES "
                "('stripe', 'evt_retention_old', now() - interval '91 days'), "
                "('apple', 'retention-old', now() - interval '200 days'), "
                "('stripe', 'evt_retention_recent', now() - interval '89 days')"
            )
        )
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    first = await billing.http.post(PATH, headers=auth)
    assert first.status_code == 200, first.text
    assert first.json()["removed"] >= 2
    assert (
        await billing.scalar(
            "SELECT count(*) FROM processed_webhooks WHERE event_id LIKE '%retention-old'"
            " OR event_id = 'evt_retention_old'"
        )
        == 0
    )
    assert (
        await billing.scalar(
            "SELECT count(*) FROM processed_webhooks WHERE event_id = 'evt_retention_recent'"
        )
        == 1
    )
    assert (await billing.http.post(PATH, headers=auth)).json() == {"removed": 0}


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token-" + "x" * 30, f"Basic {ADMIN_TOKEN}"]
)
async def test_retention_needs_the_operator_credential(
    billing: BillingWorld, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    problem(await billing.http.post(PATH, headers=headers), 401)


async def test_the_worker_retention_job_reaches_this_endpoint(billing: BillingWorld) -> None:
    """The worker's own retention client, pointed at the running auth role."""
    async with billing.userdb.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO processed_webhooks (source, event_id, processed_at) VALUES "
                "('stripe', 'evt_worker_old', now() - interval '120 days')"
            )
        )

    def run() -> object:
        with httpx.Client(timeout=10) as http:
            target = RetentionTarget("auth", billing.server.base_url, ADMIN_TOKEN)
            return Retention(http, [target]).run("auth")

    result = await asyncio.to_thread(run)
    assert isinstance(result, dict)
    assert result["removed"] >= 1
    assert (
        await billing.scalar(
            "SELECT count(*) FROM processed_webhooks WHERE event_id = 'evt_worker_old'"
        )
        == 0
    )
