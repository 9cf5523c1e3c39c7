"""The analytics role's pure parts: schema, limits, windows, retention months, page rendering."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import get_args

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix.analytics import schemas
from phoenix.analytics.api import OperatorOnly, decode_batch, operator_check
from phoenix.analytics.coarse import Coarsening
from phoenix.analytics.page import render
from phoenix.analytics.schemas import (
    BucketCount,
    ConnectionAttempt,
    EventBatch,
    FailureCell,
    FailureReport,
    MedianCell,
    MedianHeatmap,
    PerformanceReport,
    UsageReport,
    ValueReport,
    decode_events,
)
from phoenix.analytics.service import (
    BadWindow,
    InvalidEvents,
    RateLimited,
    TokenBucket,
    Window,
    median_bucket,
    retention_cutoff,
    to_columns,
)
from phoenix.analytics.store import EVENT_COLUMNS, split_statements
from phoenix.common.bodies import MalformedBody, UnsupportedBodyType

GOOD = {
    "type": "connection_attempt",
    "platform": "linux",
    "app_version": "10.2",
    "region": "se-sto",
    "outcome": "no_capacity",
    "latency_bucket": ">3s",
}


def body(*events: object) -> bytes:
    return msgspec.json.encode({"events": list(events)})


# Lists every region and version the tests below send, so each is stored as sent.
AS_SENT = Coarsening(["se-sto", "de-fra", "nl-ams"], ["10.2", "1.0"])


@pytest.mark.parametrize(
    ("estimates", "buckets"),
    [
        (schemas.BLOCKED_MB_ESTIMATE, schemas.BlockedMbBucket),
        (schemas.BLOCKED_REQUESTS_ESTIMATE, schemas.BlockedRequestsBucket),
        (schemas.TIME_SAVED_SECONDS_ESTIMATE, schemas.TimeSavedBucket),
    ],
)
def test_every_bucket_has_exactly_one_estimate(
    estimates: dict[str, float], buckets: object
) -> None:
    assert list(estimates) == list(get_args(buckets))


def test_a_good_batch_decodes_to_typed_events_and_columns_in_column_order() -> None:
    batch = decode_batch("application/json; charset=utf-8", body(GOOD))
    (event,) = batch.events
    assert isinstance(event, ConnectionAttempt)
    columns = to_columns(batch.events, 3600, AS_SENT)
    assert len(columns) == len(EVENT_COLUMNS)
    assert {name: list(column) for name, column in zip(EVENT_COLUMNS, columns, strict=True)} == {
        "hour": [3600], "type": ["connection_attempt"], "platform": ["linux"],
        "app_version": ["10.2"], "region": ["se-sto"], "outcome": ["no_capacity"],
        "latency_bucket": [">3s"], "duration_bucket": [""], "data_bucket": [""],
        "throughput_bucket": [""], "blocked_mb_bucket": [""], "blocked_requests_bucket": [""],
        "time_saved_bucket": [""],
    }  # fmt: skip


def test_the_columns_of_a_mixed_batch_hold_each_event_once_whole() -> None:
    """Grouped by type, but every row is still one event with its own fields and nothing else."""
    events = [GOOD, BLOCKING, SESSION, {**GOOD, "region": "nl-ams"}, BLOCKING]
    batch = decode_batch("application/json", body(*events))
    columns = to_columns(batch.events, 7200, AS_SENT)
    rows = sorted(zip(*columns, strict=True))
    expected = []
    for event in events:
        fields = {"hour": 7200, **event}
        expected.append(tuple(fields.get(name, "") for name in EVENT_COLUMNS))
    assert rows == sorted(expected)


SESSION = {"type": "session_summary", "platform": "ios", "app_version": "1.0",
           "region": "de-fra", "duration_bucket": "<1min", "data_bucket": ">5GB",
           "throughput_bucket": "<1Mbps"}  # fmt: skip
BLOCKING = {"type": "blocking_summary", "platform": "ios", "app_version": "1.0",
            "blocked_mb_bucket": "<1MB", "blocked_requests_bucket": "<10",
            "time_saved_bucket": "<1s"}  # fmt: skip
# Near misses of both patterns (re's `$` would match before a final newline, as msgspec's does).
ODD_STRINGS = ["de-fra\n", "DE-FRA", "de-fr", "de_fra", "1.2.3", "1.", "1000.1", "12.345\n", "",
               "x" * 70, "de-fra ", "\u00e9e-fra", "7.77"]  # fmt: skip


@st.composite
def near_miss_batches(draw: st.DrawFn) -> bytes:
    events = [dict(e) for e in draw(st.lists(st.sampled_from([GOOD, SESSION, BLOCKING]),
                                             min_size=0, max_size=6))]  # fmt: skip
    for _ in range(draw(st.integers(0, 2))):
        if events:
            target = draw(st.sampled_from(events))
            key = draw(st.sampled_from(["region", "app_version", "platform", "type", "extra"]))
            target[key] = draw(st.sampled_from(ODD_STRINGS) | st.text(max_size=8) | st.none())
    return msgspec.json.encode({"events": events})


def _outcome(decode: object, data: bytes) -> object:
    try:
        return msgspec.to_builtins(decode(data))  # type: ignore[operator]
    except Exception as error:
        return (type(error), str(error))


@given(data=near_miss_batches())
def test_the_fast_decoder_accepts_and_refuses_exactly_what_the_schema_does(data: bytes) -> None:
    strict = _outcome(lambda raw: msgspec.json.decode(raw, type=EventBatch), data)
    assert _outcome(decode_events, data) == strict


def test_an_unlisted_region_or_version_is_stored_as_other_and_refuses_nothing() -> None:
    events = [BLOCKING, GOOD, {**SESSION, "region": "us-nyc"}, {**GOOD, "region": "xx-yyy"}]
    batch = decode_batch("application/json", body(*events))
    columns = to_columns(batch.events, 3600, Coarsening(["se-sto", "de-fra"], ["1.0"]))
    rows = dict(zip(EVENT_COLUMNS, columns, strict=True))
    assert sorted(rows["region"]) == ["", "other", "other", "se-sto"]
    assert sorted(rows["app_version"]) == ["1.0", "1.0", "other", "other"]  # GOOD is 10.2


def test_the_refusal_names_the_first_bad_event_and_never_echoes_its_value() -> None:
    bad = {**GOOD, "region": "secret-value-123"}
    with pytest.raises(InvalidEvents) as refused:
        decode_batch("application/json", body(GOOD, GOOD, GOOD, bad, {**GOOD, "x": 1}))
    assert refused.value.index == 3
    document = refused.value.document()
    assert document.errors == [{"index": 3, "message": document.detail}]
    assert "secret-value-123" not in msgspec.json.encode(document).decode()


def test_bytes_that_are_not_json_or_not_declared_json_are_refused_before_decoding() -> None:
    with pytest.raises(MalformedBody):
        decode_batch("application/json", b"{")
    with pytest.raises(UnsupportedBodyType):
        decode_batch("text/plain", body(GOOD))


def test_the_token_bucket_refills_at_its_rate_and_says_when_to_retry() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=100.0, burst=200, clock=lambda: now[0])
    bucket.take(200)
    with pytest.raises(RateLimited) as limited:
        bucket.take(150)
    assert limited.value.headers["Retry-After"] == "2"
    now[0] = 1.5
    bucket.take(150)
    with pytest.raises(RateLimited):
        bucket.take(1)


def test_a_window_is_whole_hours_defaulting_to_the_last_day() -> None:
    now = datetime(2026, 5, 4, 10, 37, tzinfo=UTC).timestamp()
    window = Window(None, None, now=now)
    assert window.end_time == datetime(2026, 5, 4, 11, tzinfo=UTC)
    assert window.start_time == datetime(2026, 5, 3, 11, tzinfo=UTC)
    naive = Window(datetime(2026, 5, 1, 8, 59), datetime(2026, 5, 1, 10), now=now)
    assert naive.start_time == datetime(2026, 5, 1, 8, tzinfo=UTC)
    assert re.fullmatch(r"hour >= toDateTime\(\d+, 'UTC'\) AND hour < toDateTime\(\d+, 'UTC'\)",
                        naive.where())  # fmt: skip
    with pytest.raises(BadWindow):
        Window(datetime(2026, 5, 1, 10, tzinfo=UTC), datetime(2026, 5, 1, 10, 30, tzinfo=UTC))


@pytest.mark.parametrize(
    ("now", "months", "cutoff"),
    [((2026, 11), 13, 202511), ((2026, 1), 1, 202601), ((2026, 1), 2, 202512),
     ((2026, 12), 12, 202601)],
)  # fmt: skip
def test_retention_keeps_the_current_month_and_the_ones_before_it(
    now: tuple[int, int], months: int, cutoff: int
) -> None:
    assert retention_cutoff(datetime(*now, 15, tzinfo=UTC), months) == cutoff


def test_migration_files_split_into_statements_without_their_comments() -> None:
    text = "-- why; it is so\nCREATE TABLE a (x UInt8) ENGINE = Memory;\n\n-- more\nSELECT 1;\n"
    assert split_statements(text) == ("CREATE TABLE a (x UInt8) ENGINE = Memory", "SELECT 1")


def test_the_operator_credential_is_checked_as_bearer_or_basic_password() -> None:
    token = "t" * 32
    operator_check(token, f"Bearer {token}")
    operator_check(token, "Basic " + base64.b64encode(f"anyone:{token}".encode()).decode())
    for header in (None, "Bearer " + "t" * 31, f"Token {token}"):
        with pytest.raises(OperatorOnly):
            operator_check(token, header)
    with pytest.raises(OperatorOnly):
        operator_check("", "Bearer ")  # no operator configured: nobody gets in


def test_the_page_hatches_every_region_and_hour_the_report_leaves_out() -> None:
    """A cell under k is not in the report at all; the page draws the grid of the regions and
    hours that are, hatched wherever no cell was given (a few events or none alike)."""
    hour = datetime(2026, 3, 10, 14, tzinfo=UTC)
    later = datetime(2026, 3, 10, 15, tzinfo=UTC)
    failures = FailureReport(hour, later, 10, [
        FailureCell("de-fra", hour, attempts=20, failures=5, failure_rate=0.25),
        FailureCell("<script>", later, attempts=10, failures=0, failure_rate=0.0),
    ])  # fmt: skip
    usage = UsageReport(hour, hour, 10, [BucketCount("<1min", events=12)], [BucketCount(">5GB")])
    html = render(failures, _performance(hour, later), usage, ValueReport(hour, hour, 10, True))
    heatmap = html[html.index('<svg id="heatmap"') : html.index("</svg>")]
    assert heatmap.count('class="cell"') == 4
    assert 'data-region="de-fra" data-hour="2026-03-10T14:00Z" data-rate="0.25"' in html
    assert 'data-region="de-fra" data-hour="2026-03-10T15:00Z" data-suppressed="true"' in html
    assert 'data-region="&lt;script&gt;" data-hour="2026-03-10T14:00Z" data-suppressed' in html
    assert "<script>" not in html
    assert "<script" not in html.replace("&lt;script", "")  # no JavaScript at all
    assert 'data-bucket="&lt;1min" data-events="12"' in html


def _performance(
    start: datetime,
    end: datetime,
    latency: list[MedianCell] | None = None,
    throughput: list[MedianCell] | None = None,
) -> PerformanceReport:
    return PerformanceReport(
        start,
        end,
        10,
        MedianHeatmap(list(get_args(schemas.LatencyBucket)), latency or []),
        MedianHeatmap(list(get_args(schemas.ThroughputBucket)), throughput or []),
    )


def test_the_median_bucket_holds_the_middle_event_the_lower_one_of_an_even_count() -> None:
    order = get_args(schemas.LatencyBucket)
    assert median_bucket({"<100ms": 4, "1-3s": 5}, order) == "1-3s"
    assert median_bucket({"<100ms": 5, "1-3s": 5}, order) == "<100ms"
    assert median_bucket({"<100ms": 1, "300ms-1s": 1, ">3s": 1}, order) == "300ms-1s"
    assert median_bucket({">3s": 10, "not a bucket": 100}, order) == ">3s"
    with pytest.raises(ValueError, match="no events"):
        median_bucket({}, order)


def test_the_performance_heatmaps_share_the_grid_and_hatch_every_cell_left_out() -> None:
    """The latency and throughput heatmaps are drawn over the regions and hours of every
    heatmap's cells, so the three line up; a place a heatmap has no cell for is hatched there,
    whatever another heatmap shows for it."""
    hour = datetime(2026, 3, 10, 14, tzinfo=UTC)
    later = datetime(2026, 3, 10, 15, tzinfo=UTC)
    failures = FailureReport(hour, later, 10, [
        FailureCell("de-fra", hour, attempts=20, failures=5, failure_rate=0.25),
    ])  # fmt: skip
    performance = _performance(
        hour,
        later,
        latency=[MedianCell("de-fra", hour, events=15, median_bucket="100-300ms")],
        throughput=[MedianCell("nl-ams", later, events=11, median_bucket=">200Mbps")],
    )
    usage = UsageReport(hour, hour, 10, [], [])
    html = render(failures, performance, usage, ValueReport(hour, hour, 10, True))
    cells = {}
    for name in ("heatmap", "latency", "throughput"):
        svg = html[html.index(f'<svg id="{name}"') :]
        svg = svg[: svg.index("</svg>")]
        places = re.findall(r'data-region="([^"]+)" data-hour="([^"]+)" ([^>]*)>', svg)
        cells[name] = {(region, hour): rest for region, hour, rest in places}
        assert set(cells[name]) == {
            (region, hour)
            for region in ("de-fra", "nl-ams")
            for hour in ("2026-03-10T14:00Z", "2026-03-10T15:00Z")
        }, name
    shown = {
        name: {place: rest for place, rest in places.items() if "suppressed" not in rest}
        for name, places in cells.items()
    }
    assert list(shown["latency"]) == [("de-fra", "2026-03-10T14:00Z")]
    assert (
        'data-median="100-300ms" data-events="15"'
        in shown["latency"][("de-fra", "2026-03-10T14:00Z")]
    )
    assert list(shown["throughput"]) == [("nl-ams", "2026-03-10T15:00Z")]
    assert 'data-median="&gt;200Mbps"' in shown["throughput"][("nl-ams", "2026-03-10T15:00Z")]
    # Every bucket of each scale has its swatch, and the best of either is the lightest colour.
    assert html.count("data-legend=") == 10
    assert 'fill="rgb(218,218,235)" data-legend="&lt;100ms"' in html
    assert 'fill="rgb(198,219,239)" data-legend="&gt;200Mbps"' in html
    assert "<script" not in html


def test_a_page_with_no_cell_anywhere_says_so_for_each_heatmap() -> None:
    hour = datetime(2026, 3, 10, 14, tzinfo=UTC)
    html = render(
        FailureReport(hour, hour, 10, []),
        _performance(hour, hour),
        UsageReport(hour, hour, 10, [], []),
        ValueReport(hour, hour, 10, True),
    )
    assert 'class="cell"' not in html
    assert "No region and hour with at least 10 connection attempts" in html
    assert "No region and hour with at least 10 successful connection attempts" in html
    assert "No region and hour with at least 10 session summaries" in html
