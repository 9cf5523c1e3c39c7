"""Reports on both backends: k-suppression, JSON and CSV, the operator credential, retention."""

from __future__ import annotations

import base64
import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from phoenix.analytics.store import Store
from tests.integration.analytics.conftest import OPERATOR, OPERATOR_HEADERS, Row, columns, count

H = int(datetime(2026, 3, 10, 14, tzinfo=UTC).timestamp())
WINDOW = {"from": "2026-03-10T00:00:00Z", "to": "2026-03-11T00:00:00Z"}


def attempt(region: str, outcome: str = "ok", hour: int = H, latency: str = "<100ms") -> Row:
    return (hour, "connection_attempt", "ios", "1.4", region, outcome, latency,
            "", "", "", "", "", "")  # fmt: skip


def session(
    duration: str = "10-60min",
    data: str = "<100MB",
    throughput: str = "10-50Mbps",
    region: str = "de-fra",
    hour: int = H,
) -> Row:
    return (hour, "session_summary", "ios", "1.4", region, "", "",
            duration, data, throughput, "", "", "")  # fmt: skip


def blocking(mb: str = "1-10MB", requests: str = "10-100", saved: str = "1-10s") -> Row:
    return (H, "blocking_summary", "ios", "1.4", "", "", "", "", "", "",
            mb, requests, saved)  # fmt: skip


@pytest.fixture
def heatmap_rows(store: Store) -> None:
    rows = [attempt("de-fra")] * 9 + [attempt("de-fra", "timeout")] * 3
    rows += [attempt("nl-ams", "handshake_failed")] * 4  # a small cell: 4 < k = 10
    rows += [attempt("de-fra", hour=H + 3600)] * 10  # the next hour: exactly k, no failures
    store.insert(columns(rows), marker=1)


async def test_the_heatmap_shows_rates_and_leaves_out_cells_under_k_naming_nothing(
    client: AsyncTestClient[Any], heatmap_rows: None
) -> None:
    """nl-ams had 4 attempts at 14:00: a "suppressed" cell would still say that someone
    connected there then, so the cell is not in the report at all."""
    answer = await client.get(
        "/v1/reports/connection-failures", params=WINDOW, headers=OPERATOR_HEADERS
    )
    assert answer.status_code == 200
    report = answer.json()
    assert report["min_events"] == 10
    assert report["cells"] == [
        {"region": "de-fra", "hour": "2026-03-10T14:00:00Z", "attempts": 12, "failures": 3,
         "failure_rate": 0.25},
        {"region": "de-fra", "hour": "2026-03-10T15:00:00Z", "attempts": 10, "failures": 0,
         "failure_rate": 0.0},
    ]  # fmt: skip
    assert "nl-ams" not in answer.text


async def test_the_heatmap_as_csv_has_no_row_for_a_cell_under_k(
    client: AsyncTestClient[Any], heatmap_rows: None
) -> None:
    answer = await client.get(
        "/v1/reports/connection-failures",
        params=WINDOW,
        headers={**OPERATOR_HEADERS, "Accept": "text/csv"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["region"], r["attempts"], r["failure_rate"]) for r in rows] == [
        ("de-fra", "12", "0.25"),
        ("de-fra", "10", "0.0"),
    ]
    assert "nl-ams" not in answer.text


@pytest.fixture
def performance_rows(store: Store) -> None:
    # de-fra 14:00, 12 successful attempts: the 6th and 7th fastest are 100-300ms and 1-3s,
    # so the median is the lower, 100-300ms. The 20 timeouts at >3s are not latency.
    rows = [attempt("de-fra", latency="<100ms")] * 5 + [attempt("de-fra", latency="100-300ms")]
    rows += [attempt("de-fra", latency="1-3s")] * 6
    rows += [attempt("de-fra", "timeout", latency=">3s")] * 20
    # nl-ams 14:00: 29 attempts but 9 successful ones, under k: no latency cell.
    rows += [attempt("nl-ams", latency="300ms-1s")] * 9
    rows += [attempt("nl-ams", "no_capacity", latency="1-3s")] * 20
    # de-fra 15:00: exactly k successful attempts, all at 300ms-1s.
    rows += [attempt("de-fra", hour=H + 3600, latency="300ms-1s")] * 10
    # Throughput: de-fra 14:00, 11 sessions, median 50-200Mbps; se-sto 14:00, 9 sessions.
    rows += [session(throughput="<1Mbps")] * 2 + [session(throughput="50-200Mbps")] * 4
    rows += [session(throughput=">200Mbps")] * 5
    rows += [session(throughput="1-10Mbps", region="se-sto")] * 9
    store.insert(columns(rows), marker=7)


async def test_performance_shows_the_median_bucket_per_cell_and_leaves_out_cells_under_k(
    client: AsyncTestClient[Any], performance_rows: None
) -> None:
    """A cell of fewer than k events is not in the report at all, as in the failure heatmap:
    nl-ams had 29 attempts at 14:00, but its latency cell would rest on 9 people."""
    answer = await client.get("/v1/reports/performance", params=WINDOW, headers=OPERATOR_HEADERS)
    assert answer.status_code == 200
    report = answer.json()
    assert report["min_events"] == 10
    assert report["latency"] == {
        "buckets": ["<100ms", "100-300ms", "300ms-1s", "1-3s", ">3s"],
        "cells": [
            {"region": "de-fra", "hour": "2026-03-10T14:00:00Z", "events": 12,
             "median_bucket": "100-300ms"},
            {"region": "de-fra", "hour": "2026-03-10T15:00:00Z", "events": 10,
             "median_bucket": "300ms-1s"},
        ],
    }  # fmt: skip
    assert report["throughput"] == {
        "buckets": ["<1Mbps", "1-10Mbps", "10-50Mbps", "50-200Mbps", ">200Mbps"],
        "cells": [
            {"region": "de-fra", "hour": "2026-03-10T14:00:00Z", "events": 11,
             "median_bucket": "50-200Mbps"},
        ],
    }  # fmt: skip
    assert "nl-ams" not in answer.text
    assert "se-sto" not in answer.text


async def test_performance_as_csv_has_a_row_per_shown_cell_and_none_under_k(
    client: AsyncTestClient[Any], performance_rows: None
) -> None:
    answer = await client.get(
        "/v1/reports/performance", params={**WINDOW, "format": "csv"}, headers=OPERATOR_HEADERS
    )
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["measure"], r["region"], r["hour"], r["events"], r["median_bucket"])
            for r in rows] == [
        ("latency", "de-fra", "2026-03-10T14:00:00+00:00", "12", "100-300ms"),
        ("latency", "de-fra", "2026-03-10T15:00:00+00:00", "10", "300ms-1s"),
        ("throughput", "de-fra", "2026-03-10T14:00:00+00:00", "11", "50-200Mbps"),
    ]  # fmt: skip
    assert "nl-ams" not in answer.text
    assert "se-sto" not in answer.text


async def test_performance_counts_events_stored_in_the_same_hour_by_separate_inserts(
    client: AsyncTestClient[Any], store: Store
) -> None:
    """Each insert is a part of its own until parts merge: the cell adds them up, so two
    inserts of 5 make a cell of 10, shown."""
    store.insert(columns([session(throughput="1-10Mbps", region="nl-ams")] * 5), 8)
    store.insert(columns([session(throughput="1-10Mbps", region="nl-ams")] * 5), 9)
    report = (
        await client.get("/v1/reports/performance", params=WINDOW, headers=OPERATOR_HEADERS)
    ).json()
    assert [
        (c["region"], c["events"], c["median_bucket"]) for c in report["throughput"]["cells"]
    ] == [("nl-ams", 10, "1-10Mbps")]
    assert report["latency"]["cells"] == []


@pytest.mark.parametrize("fmt", ["csv\n", "json\n", "xml"])
async def test_a_format_other_than_json_or_csv_is_refused_whole(
    client: AsyncTestClient[Any], fmt: str
) -> None:
    """The pattern is matched against the whole value: "csv\n" was taken, and answered JSON."""
    answer = await client.get(
        "/v1/reports/usage", params={**WINDOW, "format": fmt}, headers=OPERATOR_HEADERS
    )
    assert answer.status_code == 400


async def test_usage_suppresses_every_bucket_under_k_and_gives_no_total(
    client: AsyncTestClient[Any], store: Store
) -> None:
    store.insert(
        columns([session("10-60min", "1GB-5GB")] * 15 + [session("1-4h", "1GB-5GB")] * 3), 2
    )
    answer = await client.get(
        "/v1/reports/usage", params={**WINDOW, "format": "json"}, headers=OPERATOR_HEADERS
    )
    report = answer.json()
    duration = {b["bucket"]: b for b in report["duration"]}
    assert duration["10-60min"] == {"bucket": "10-60min", "events": 15}
    assert duration["1-4h"] == {"bucket": "1-4h", "suppressed": True}
    assert duration["<1min"] == {"bucket": "<1min", "suppressed": True}
    assert {b["bucket"]: b.get("events") for b in report["data"]}["1GB-5GB"] == 18
    assert "total" not in report
    text = (
        await client.get(
            "/v1/reports/usage", params={**WINDOW, "format": "csv"}, headers=OPERATOR_HEADERS
        )
    ).text
    assert "duration,10-60min,False,15" in text
    assert "duration,1-4h,True," in text


async def test_value_is_suppressed_under_k_summaries_and_estimated_from_buckets_at_k(
    client: AsyncTestClient[Any], store: Store
) -> None:
    store.insert(columns([blocking()] * 9), 3)
    report = (await client.get("/v1/reports/value", params=WINDOW, headers=OPERATOR_HEADERS)).json()
    assert report["suppressed"] is True
    assert "blocked_mb" not in report
    store.insert(columns([blocking(">100MB", ">1000", ">10min")]), 4)
    report = (await client.get("/v1/reports/value", params=WINDOW, headers=OPERATOR_HEADERS)).json()
    assert report["summaries"] == 10
    assert report["blocked_mb"] == pytest.approx(9 * 3.2 + 100.0)
    assert report["blocked_requests"] == 9 * 32 + 1000
    assert report["time_saved_seconds"] == round(9 * 3.2 + 600)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer " + "x" * 40},
        {"Authorization": "Basic " + base64.b64encode(b"op:wrong").decode()},
        {"Authorization": "Basic !!!"},
        {"Authorization": OPERATOR},
    ],
    ids=["none", "wrong bearer", "wrong basic", "malformed basic", "no scheme"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/reports/connection-failures"),
        ("GET", "/v1/reports/performance"),
        ("GET", "/v1/reports/usage"),
        ("GET", "/v1/reports/value"),
        ("GET", "/reports"),
        ("POST", "/v1/admin/retention"),
    ],
)
async def test_reports_and_retention_need_the_operator_credential(
    client: AsyncTestClient[Any], method: str, path: str, headers: dict[str, str]
) -> None:
    answer = await client.request(method, path, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    expected = 'Basic realm="phoenix-analytics"' if path == "/reports" else "Bearer"
    assert answer.headers["www-authenticate"] == expected


async def test_the_operator_password_works_as_basic_auth_for_a_browser(
    client: AsyncTestClient[Any],
) -> None:
    basic = base64.b64encode(f"operator:{OPERATOR}".encode()).decode()
    answer = await client.get("/v1/reports/value", headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-03-11T00:00:00Z", "to": "2026-03-10T00:00:00Z"},
        {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"from": "yesterday"},
        {"format": "xml"},
    ],
    ids=["backwards", "too long", "not a time", "unknown format"],
)
async def test_a_bad_window_or_format_is_a_400_problem(
    client: AsyncTestClient[Any], params: dict[str, str]
) -> None:
    answer = await client.get("/v1/reports/usage", params=params, headers=OPERATOR_HEADERS)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"


async def test_retention_drops_months_outside_the_window_through_the_admin_endpoint(
    client: AsyncTestClient[Any], store: Store
) -> None:
    now = datetime.now(UTC)
    old = int(datetime(now.year - 2, now.month, 1, tzinfo=UTC).timestamp())
    store.insert(columns([attempt("de-fra", hour=old)]), 5)
    store.insert(columns([attempt("de-fra", hour=int(now.timestamp()) // 3600 * 3600)]), 6)
    answer = await client.post("/v1/admin/retention", headers=OPERATOR_HEADERS)
    assert answer.status_code == 200
    result = answer.json()
    old_month = datetime.fromtimestamp(old, UTC).strftime("%Y%m")
    assert f"events:{old_month}" in result["dropped_partitions"]
    assert f"connection_hourly:{old_month}" in result["dropped_partitions"]
    assert count(store) == 1
