"""What the OpenAPI document promises of the report routes, where schemathesis found them break it:
a Content-Type names its charset once, and `from`/`to` are date-times, nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.integration.analytics.conftest import OPERATOR_HEADERS

WINDOW = {"from": "2026-03-10T00:00:00Z", "to": "2026-03-11T00:00:00Z"}
REPORTS = [
    "/v1/reports/connection-failures",
    "/v1/reports/performance",
    "/v1/reports/usage",
    "/v1/reports/value",
]


@pytest.mark.parametrize("path", REPORTS)
async def test_a_csv_report_is_text_csv_in_utf8_said_once(
    client: AsyncTestClient[Any], path: str
) -> None:
    answer = await client.get(path, params={**WINDOW, "format": "csv"}, headers=OPERATOR_HEADERS)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"


async def test_the_page_is_html_in_utf8_said_once(client: AsyncTestClient[Any]) -> None:
    answer = await client.get("/reports", params=WINDOW, headers=OPERATOR_HEADERS)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("path", [*REPORTS, "/reports"])
@pytest.mark.parametrize(
    "value", ["0.5", "1700000000", "yesterday", "0001-01-01T00:00:01Z", "9999-12-31T23:59:59Z"]
)
async def test_a_window_bound_that_is_no_date_time_is_a_400(
    client: AsyncTestClient[Any], path: str, value: str
) -> None:
    """Found by schemathesis: `to=0.5` was read as a Unix time and answered 200, and
    `to=0001-01-01T00:00:01Z` was a 500 (the default `from`, a day earlier, is before year 1)."""
    answer = await client.get(path, params={"to": value}, headers=OPERATOR_HEADERS)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/not-a-date-time")
