"""POST /v1/events on both backends: what is accepted lands once; what is refused lands never."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from phoenix.analytics.app import create_app
from phoenix.analytics.service import current_hour
from phoenix.analytics.store import Store
from tests.integration.analytics.conftest import (
    blocking_summary,
    connection_attempt,
    count,
    session_summary,
    settings,
)

PROBLEM = "application/problem+json"
TOO_MANY = json.dumps({"events": [connection_attempt()] * 101}).encode()


async def settle(store: Store, expected: int) -> int:
    """Wait (up to 10 s) for the writer's flush to bring the events table to ``expected`` rows."""
    deadline = asyncio.get_running_loop().time() + 10.0
    while True:
        rows = await asyncio.to_thread(count, store)
        if rows >= expected or asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def test_a_batch_is_accepted_stamped_with_the_server_hour_and_stored_once(
    client: AsyncTestClient[Any], store: Store
) -> None:
    events = [connection_attempt(), session_summary(), blocking_summary()]
    answer = await client.post("/v1/events", json={"events": events})
    assert answer.status_code == 202
    assert answer.json() == {"accepted": 3}
    assert await settle(store, 3) == 3
    hours = store.select("SELECT DISTINCT toUnixTimestamp(hour) FROM events")
    assert [int(h[0]) for h in hours] == [current_hour()]
    kinds = store.select("SELECT type, region, count() FROM events GROUP BY type, region")
    assert sorted(kinds) == [
        ("blocking_summary", "", 1),
        ("connection_attempt", "de-fra", 1),
        ("session_summary", "nl-ams", 1),
    ]


BAD_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("unknown event type", {"type": "page_view", "platform": "ios", "app_version": "1.0"}),
    ("unknown field", connection_attempt(device_id="abc")),
    ("free text where a bucket goes", connection_attempt(latency_bucket="about 120 ms")),
    ("out-of-enum outcome", connection_attempt(outcome="crashed")),
    ("wrong type", connection_attempt(region=7)),
    ("region not a code", connection_attempt(region="Frankfurt, near the station")),
    ("app version with build", connection_attempt(app_version="1.4.2")),
    # Python's `$` matched before a final newline: each value is now matched whole.
    ("region with a trailing newline", connection_attempt(region="de-fra\n")),
    ("app version with a trailing newline", session_summary(app_version="2.0\n")),
    ("missing field", {k: v for k, v in session_summary().items() if k != "data_bucket"}),
    ("a client timestamp", blocking_summary(hour="2026-01-01T10:00:00Z")),
]


@pytest.mark.parametrize(("case", "bad"), BAD_EVENTS, ids=[case for case, _ in BAD_EVENTS])
async def test_a_bad_event_refuses_the_whole_batch_naming_its_index(
    client: AsyncTestClient[Any], store: Store, case: str, bad: dict[str, Any]
) -> None:
    events = [connection_attempt(), session_summary(), bad, connection_attempt()]
    answer = await client.post("/v1/events", json={"events": events})
    assert answer.status_code == 422, case
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["status"] == 422
    assert problem["errors"][0]["index"] == 2
    await asyncio.sleep(0.2)  # several flush intervals
    assert count(store) == 0


@pytest.mark.parametrize(
    ("case", "body", "content_type", "status"),
    [
        ("malformed JSON", b'{"events": [', "application/json", 400),
        ("not an object", b"[1, 2]", "application/json", 422),
        ("unknown top-level field", b'{"events": [], "user": "x"}', "application/json", 422),
        ("empty batch", b'{"events": []}', "application/json", 422),
        ("too many events", TOO_MANY, "application/json", 422),
        ("oversize body", b'{"events": [' + b" " * 70_000 + b"]}", "application/json", 413),
        ("another media type", b"events=1", "application/x-www-form-urlencoded", 415),
    ],
)
async def test_malformed_or_oversize_bodies_are_a_4xx_problem_and_store_nothing(
    client: AsyncTestClient[Any],
    store: Store,
    case: str,
    body: bytes,
    content_type: str,
    status: int,
) -> None:
    answer = await client.post("/v1/events", content=body, headers={"content-type": content_type})
    assert answer.status_code == status, case
    assert answer.headers["content-type"] == PROBLEM
    await asyncio.sleep(0.2)
    assert count(store) == 0


async def test_a_full_batch_of_one_hundred_is_accepted(
    client: AsyncTestClient[Any], store: Store
) -> None:
    answer = await client.post("/v1/events", json={"events": [connection_attempt()] * 100})
    assert answer.status_code == 202
    assert await settle(store, 100) == 100


async def test_the_global_rate_limit_answers_429_with_retry_after(store: Store) -> None:
    app = create_app(settings(ingest_events_per_second=1.0, ingest_burst_events=150), store=store)
    async with AsyncTestClient(app) as client:
        first = await client.post("/v1/events", json={"events": [connection_attempt()] * 100})
        second = await client.post("/v1/events", json={"events": [connection_attempt()] * 100})
    assert first.status_code == 202
    assert second.status_code == 429
    assert second.headers["content-type"] == PROBLEM
    assert int(second.headers["retry-after"]) >= 1


async def test_a_full_buffer_answers_503_with_retry_after_instead_of_dropping(
    store: Store,
) -> None:
    # No flush before shutdown: the interval is longer than the test and 250 rows never wait.
    app = create_app(settings(flush_seconds=600, flush_rows=250, buffer_max_rows=250), store=store)
    async with AsyncTestClient(app) as client:
        codes = []
        for _ in range(3):
            answer = await client.post("/v1/events", json={"events": [connection_attempt()] * 100})
            codes.append(answer.status_code)
        assert codes == [202, 202, 503]
        assert answer.headers["content-type"] == PROBLEM
        assert int(answer.headers["retry-after"]) >= 1
        assert count(store) == 0
    # Shutdown writes every accepted event: none dropped, none extra.
    assert count(store) == 200


async def test_unlisted_regions_and_versions_land_as_other_and_listed_ones_as_sent(
    store: Store,
) -> None:
    """Whatever a client writes in region and app_version, the row holds one of a few values."""
    app = create_app(
        settings(analytics_regions=["de-fra", "nl-ams"], analytics_app_versions=["1.4"]),
        store=store,
    )
    events = [
        connection_attempt(),
        connection_attempt("us-nyc"),
        connection_attempt("qq-x7k2m9", app_version="831.207"),
        session_summary(),  # nl-ams, 2.0
    ]
    async with AsyncTestClient(app) as client:
        answer = await client.post("/v1/events", json={"events": events})
        assert answer.status_code == 202
        assert await settle(store, 4) == 4
    rows = store.select(
        "SELECT region, app_version, count() FROM events GROUP BY region, app_version"
    )
    assert sorted(rows) == [
        ("de-fra", "1.4", 1),
        ("nl-ams", "other", 1),
        ("other", "1.4", 1),
        ("other", "other", 1),
    ]


async def test_by_default_a_version_lands_as_its_major_and_the_fleet_regions_as_sent(
    client: AsyncTestClient[Any], store: Store
) -> None:
    events = [
        connection_attempt("zz-local", app_version="1.4"),
        session_summary(app_version="0.24"),
        blocking_summary(app_version="7.1"),
    ]
    answer = await client.post("/v1/events", json={"events": events})
    assert answer.status_code == 202
    assert await settle(store, 3) == 3
    rows = store.select("SELECT type, region, app_version FROM events")
    assert sorted(rows) == [
        ("blocking_summary", "", "other"),
        ("connection_attempt", "zz-local", "1.x"),
        ("session_summary", "nl-ams", "0.x"),
    ]
