"""The analytics role's HTTP surface: ingest, reports, retention and the operator page.

Handlers decode, call the service, encode. Nothing here reads the peer address or a header
other than Content-Type, Accept and (operator routes only) Authorization.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter
from litestar.types import ControllerRouterHandler, ExceptionHandlersMap

from phoenix.analytics import page, service
from phoenix.analytics.coarse import Coarsening
from phoenix.analytics.schemas import (
    MAX_EVENTS,
    Accepted,
    EventBatch,
    FailureReport,
    PerformanceReport,
    RetentionResult,
    UsageReport,
    ValueReport,
    decode_events,
    whole,
)
from phoenix.analytics.service import (
    BadWindow,
    InvalidEvents,
    RateLimited,
    Reports,
    TokenBucket,
    Window,
)
from phoenix.analytics.store import Store, StoreError
from phoenix.analytics.writer import BufferFull, Writer
from phoenix.common.bearer import require_secret
from phoenix.common.bodies import MalformedBody, UnsupportedBodyType
from phoenix.common.logging import get_logger
from phoenix.common.openapi import json_body, operation, problem_answers
from phoenix.common.problems import Problem, problem_response
from phoenix.common.web import SMALL_ANSWER

MAX_BODY_BYTES: Final = 64 * 1024
CSV_TYPE: Final = "text/csv"  # Litestar adds "; charset=utf-8" to a text/* type itself
_INDEX = re.compile(r"\$\.events\[(\d+)\]")

# Read as text and parsed strictly (`_window`): Litestar's own datetime parsing takes `to=0.5` as
# a Unix time, which the document, saying date-time, refuses (found by negative_data_rejection).
From = Annotated[
    str | None,
    QueryParameter(
        name="from",
        format="date-time",
        description="Start hour (UTC, inclusive); default: to - 24 h",
    ),
]
To = Annotated[
    str | None,
    QueryParameter(
        name="to", format="date-time", description="End hour (UTC, exclusive); default: now"
    ),
]
Format = Annotated[str | None, QueryParameter(name="format", pattern=whole("json|csv"))]


class NotADateTime(Problem):
    status = 400
    slug = "not-a-date-time"
    title = "from and to are RFC 3339 date-times: 2026-03-10T14:00:00Z"


# What the store's DateTime column holds. Found by schemathesis: `to=0001-01-01T00:00:01Z` made
# the default `from` a day before year 1, and the report a 500.
EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2106, 1, 1, tzinfo=UTC)


def _window(start: str | None, end: str | None) -> Window:
    try:
        first, last = (None if t is None else msgspec.convert(t, datetime) for t in (start, end))
    except msgspec.ValidationError:
        raise NotADateTime() from None
    for moment in (first, last):
        aware = moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)
        if aware is not None and not EARLIEST <= aware < LATEST:
            raise NotADateTime("from and to lie between 1970 and 2106")
    return Window(first, last)


class OperatorOnly(Problem):
    status = 401
    slug = "operator-credential-required"
    title = "This needs the operator credential"


_log = get_logger(__name__)


def decode_batch(content_type: str, body: bytes) -> EventBatch:
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedBodyType()
    try:
        return decode_events(body)
    except msgspec.ValidationError as error:
        # msgspec names the place ("at `$.events[3].outcome`"); the value sent is never echoed.
        match = _INDEX.search(str(error))
        raise InvalidEvents(str(error), int(match[1]) if match else None) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        # msgspec raises UnicodeDecodeError for bad UTF-8 inside a string: malformed all the same.
        raise MalformedBody() from None


class StoreUnavailable(Problem):
    status = 503
    slug = "store-unavailable"
    title = "The analytics store cannot answer right now"


def _on_store_error(_: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    # The store's message may quote SQL; the log names the failure, the client learns only 503.
    _log.warning("store_unavailable", error=str(error)[:200])
    problem = StoreUnavailable(headers={"Retry-After": "5"})
    return problem_response(problem.document(), problem.headers)


# A report's window (400: not a date-time, or not a window), its credential, its store.
REPORT_PROBLEMS: Final = (400, NotADateTime, BadWindow, OperatorOnly, StoreUnavailable)


def exception_handlers() -> ExceptionHandlersMap:
    """A store that fails a report's query (down, or not migrated) is a 503, not a 500."""
    return {StoreError: _on_store_error}


BEARER_CHALLENGE: Final = "Bearer"
# Browsers answer only a challenge they can prompt for (a list with Bearer first makes Chromium
# give up), so the page asks for Basic and the JSON/CSV routes for Bearer; both accept either.
BASIC_CHALLENGE: Final = 'Basic realm="phoenix-analytics"'


def operator_check(
    token: str, authorization: str | None, challenge: str = BEARER_CHALLENGE
) -> None:
    """Bearer <token>, or Basic with the token as password (so a browser can open the page)."""
    require_secret(
        _basic_as_bearer(authorization),
        token,
        lambda: OperatorOnly(headers={"WWW-Authenticate": challenge}),
    )


def _basic_as_bearer(authorization: str | None) -> str | None:
    """A Basic header's password presented as the Bearer secret it stands for; any other
    header as it came (the shared check refuses what is not Bearer)."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return authorization
    try:
        password = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
    except (binascii.Error, UnicodeDecodeError):
        return None
    return f"Bearer {password}"


def _wants_csv(request: Request[Any, Any, Any], format_: str | None) -> bool:
    if format_ is not None:
        return format_ == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> Response[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if cell is None else cell for cell in row] for row in rows)
    return Response(out.getvalue().encode(), media_type=CSV_TYPE)


def failures_csv(report: FailureReport) -> Response[bytes]:
    return _csv(
        ("region", "hour", "attempts", "failures", "failure_rate"),
        [
            (c.region, c.hour.isoformat(), c.attempts, c.failures, c.failure_rate)
            for c in report.cells
        ],
    )


def performance_csv(report: PerformanceReport) -> Response[bytes]:
    rows = [
        (measure, c.region, c.hour.isoformat(), c.events, c.median_bucket)
        for measure, heatmap in (("latency", report.latency), ("throughput", report.throughput))
        for c in heatmap.cells
    ]
    return _csv(("measure", "region", "hour", "events", "median_bucket"), rows)


def usage_csv(report: UsageReport) -> Response[bytes]:
    rows = [("duration", b.bucket, b.suppressed, b.events) for b in report.duration]
    rows += [("data", b.bucket, b.suppressed, b.events) for b in report.data]
    return _csv(("distribution", "bucket", "suppressed", "events"), rows)


def value_csv(report: ValueReport) -> Response[bytes]:
    return _csv(
        ("suppressed", "summaries", "blocked_mb", "blocked_requests", "time_saved_seconds"),
        [
            (
                report.suppressed,
                report.summaries,
                report.blocked_mb,
                report.blocked_requests,
                report.time_saved_seconds,
            )
        ],
    )


def _json(document: msgspec.Struct) -> Response[bytes]:
    return Response(msgspec.json.encode(document), media_type=MediaType.JSON)


def routes(
    *,
    store: Store,
    writer: Writer,
    limiter: TokenBucket,
    reports: Reports,
    operator_token: str,
    coarsening: Coarsening,
    retention_months: int,
) -> list[ControllerRouterHandler]:
    def operator(request: Request[Any, Any, Any], challenge: str = BEARER_CHALLENGE) -> None:
        operator_check(operator_token, request.headers.get("authorization"), challenge)

    @post(
        "/v1/events",
        status_code=202,
        opt={SMALL_ANSWER: True},
        tags=["ingest"],
        summary="Accept a batch of anonymous, bucketed events",
        request_max_body_size=MAX_BODY_BYTES,
        # Decoded by hand (to name the first bad event): msgspec's own schema of it is published.
        operation_class=json_body(
            EventBatch, f"A batch of 1 to {MAX_EVENTS} events; unknown fields are refused."
        ),
        responses={
            202: ResponseSpec(data_container=Accepted, description="How many events were taken"),
            **problem_answers(
                MalformedBody, 413, UnsupportedBodyType, InvalidEvents, RateLimited, BufferFull
            ),
        },
    )
    async def ingest(request: Request[Any, Any, Any]) -> Response[bytes]:
        batch = decode_batch(request.headers.get("content-type", ""), await request.body())
        columns = service.to_columns(batch.events, service.current_hour(), coarsening)
        accepted = len(batch.events)
        limiter.take(accepted)
        writer.offer(columns)
        return Response(
            msgspec.json.encode(Accepted(accepted)), status_code=202, media_type=MediaType.JSON
        )

    def report(
        path: str,
        summary: str,
        container: type[msgspec.Struct],
        build: Callable[[Window], Awaitable[Any]],
        to_csv: Callable[[Any], Response[bytes]],
    ) -> HTTPRouteHandler:
        @get(
            path,
            tags=["reports"],
            summary=summary,
            operation_class=operation(also=("text/csv",)),
            responses={200: _body(container), **problem_answers(*REPORT_PROBLEMS)},
        )
        async def handler(
            request: Request[Any, Any, Any], start: From = None, end: To = None, fmt: Format = None
        ) -> Response[bytes]:
            operator(request)
            answer = await build(_window(start, end))
            return to_csv(answer) if _wants_csv(request, fmt) else _json(answer)

        return handler

    connection_failures = report(
        "/v1/reports/connection-failures",
        "Failure rate per region and hour (the heatmap); small cells suppressed",
        FailureReport,
        reports.failures,
        failures_csv,
    )
    performance = report(
        "/v1/reports/performance",
        "Median latency and throughput bucket per region and hour; small cells suppressed",
        PerformanceReport,
        reports.performance,
        performance_csv,
    )
    usage = report(
        "/v1/reports/usage",
        "Session duration and data distributions; small buckets suppressed",
        UsageReport,
        reports.usage,
        usage_csv,
    )
    value = report(
        "/v1/reports/value",
        "What the blocklist saved: MB, requests and time, estimated from buckets",
        ValueReport,
        reports.value,
        value_csv,
    )

    @post(
        "/v1/admin/retention",
        status_code=200,
        tags=["admin"],
        summary="Drop monthly partitions older than the retention window (the worker calls it)",
        responses=problem_answers(OperatorOnly, StoreUnavailable),
    )
    async def retention(request: Request[Any, Any, Any]) -> RetentionResult:
        operator(request)
        return await service.apply_retention(store, retention_months)

    @get(
        "/reports",
        tags=["reports"],
        summary="The operator page",
        media_type=MediaType.HTML,
        responses=problem_answers(*REPORT_PROBLEMS),
    )
    async def reports_page(
        request: Request[Any, Any, Any], start: From = None, end: To = None
    ) -> Response[bytes]:
        operator(request, BASIC_CHALLENGE)
        window = _window(start, end)
        html = page.render(
            await reports.failures(window),
            await reports.performance(window),
            await reports.usage(window),
            await reports.value(window),
        )
        return Response(html.encode(), media_type=MediaType.HTML)

    return [ingest, connection_failures, performance, usage, value, retention, reports_page]


def _body(container: type[msgspec.Struct]) -> ResponseSpec:
    return ResponseSpec(data_container=container, description="JSON, or CSV with format=csv")
