"""The analytics role's HTTP surface: ingest, reports, retention and the operator page.

Handlers decode, call the service, encode. Nothing here reads the peer address or a header
other than Content-Type, Accept and (operator routes only) Authorization.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hmac
import io
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Final

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.params import QueryParameter
from litestar.types import ControllerRouterHandler, ExceptionHandlersMap

from phoenix.analytics import page, service
from phoenix.analytics.schemas import (
    MAX_EVENTS,
    Accepted,
    EventBatch,
    FailureReport,
    RetentionResult,
    UsageReport,
    ValueReport,
    decode_events,
)
from phoenix.analytics.service import InvalidEvents, Reports, TokenBucket, Window
from phoenix.analytics.store import Store, StoreError
from phoenix.analytics.writer import Writer
from phoenix.common.bodies import MalformedBody, UnsupportedBodyType
from phoenix.common.logging import get_logger
from phoenix.common.problems import Problem, ProblemDocument, problem_response

MAX_BODY_BYTES: Final = 64 * 1024
CSV_TYPE: Final = "text/csv; charset=utf-8"
_INDEX = re.compile(r"\$\.events\[(\d+)\]")

From = Annotated[
    datetime | None,
    QueryParameter(name="from", description="Start hour (UTC, inclusive); default: to - 24 h"),
]
To = Annotated[
    datetime | None,
    QueryParameter(name="to", description="End hour (UTC, exclusive); default: now"),
]
Format = Annotated[str | None, QueryParameter(name="format", pattern="^(json|csv)$")]


class OperatorOnly(Problem):
    status = 401
    slug = "operator-credential-required"
    title = "This needs the operator credential"


@dataclass
class _JSONSchema(Schema):
    """A JSON Schema made by msgspec, handed to the OpenAPI document as it is."""

    json_schema: dict[str, Any] = field(default_factory=dict)

    def to_schema(self) -> dict[str, Any]:
        return self.json_schema


def _inline(schema: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        reference = schema.get("$ref")
        if isinstance(reference, str):
            return _inline(definitions[reference.rsplit("/", 1)[-1]], definitions)
        return {key: _inline(value, definitions) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_inline(item, definitions) for item in schema]
    return schema


def event_batch_schema() -> dict[str, Any]:
    """EventBatch as JSON Schema: every enumeration and pattern the decoder enforces."""
    (root,), definitions = msgspec.json.schema_components([EventBatch])
    inlined: dict[str, Any] = _inline(root, definitions)
    return inlined


@dataclass
class _IngestOperation(Operation):
    # The body is decoded by hand (to name the first bad event), so Litestar cannot see its
    # type; publish msgspec's own schema of it instead.
    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={
                "application/json": OpenAPIMediaType(
                    schema=_JSONSchema(json_schema=event_batch_schema())
                )
            },
            required=True,
            description=f"A batch of 1 to {MAX_EVENTS} events; unknown fields are refused.",
        )


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
    scheme, _, value = (authorization or "").partition(" ")
    offered = ""
    if scheme.lower() == "bearer":
        offered = value.strip()
    elif scheme.lower() == "basic":
        try:
            offered = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            offered = ""
    if not token or not hmac.compare_digest(offered.encode(), token.encode()):
        raise OperatorOnly(headers={"WWW-Authenticate": challenge})


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
        ("region", "hour", "suppressed", "attempts", "failures", "failure_rate"),
        [
            (c.region, c.hour.isoformat(), c.suppressed, c.attempts, c.failures, c.failure_rate)
            for c in report.cells
        ],
    )


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
    regions: frozenset[str],
    retention_months: int,
) -> list[ControllerRouterHandler]:
    def operator(request: Request[Any, Any, Any], challenge: str = BEARER_CHALLENGE) -> None:
        operator_check(operator_token, request.headers.get("authorization"), challenge)

    @post(
        "/v1/events",
        status_code=202,
        tags=["ingest"],
        summary="Accept a batch of anonymous, bucketed events",
        request_max_body_size=MAX_BODY_BYTES,
        operation_class=_IngestOperation,
        responses={
            202: ResponseSpec(data_container=Accepted, description="How many events were taken"),
            413: _problem("Body over 64 KB"),
            415: _problem("Not application/json"),
            422: _problem("A bad event; errors[0].index names the first"),
            429: _problem("The global ingest rate is spent (Retry-After)"),
            503: _problem("The buffer is full (Retry-After)"),
        },
    )
    async def ingest(request: Request[Any, Any, Any]) -> Response[bytes]:
        batch = decode_batch(request.headers.get("content-type", ""), await request.body())
        columns = service.to_columns(batch.events, service.current_hour(), regions)
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
        @get(path, tags=["reports"], summary=summary, responses={200: _body(container)})
        async def handler(
            request: Request[Any, Any, Any], start: From = None, end: To = None, fmt: Format = None
        ) -> Response[bytes]:
            operator(request)
            answer = await build(Window(start, end))
            return to_csv(answer) if _wants_csv(request, fmt) else _json(answer)

        return handler

    connection_failures = report(
        "/v1/reports/connection-failures",
        "Failure rate per region and hour (the heatmap); small cells suppressed",
        FailureReport,
        reports.failures,
        failures_csv,
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
    )
    async def retention(request: Request[Any, Any, Any]) -> RetentionResult:
        operator(request)
        return await service.apply_retention(store, retention_months)

    @get("/reports", tags=["reports"], summary="The operator page", media_type=MediaType.HTML)
    async def reports_page(
        request: Request[Any, Any, Any], start: From = None, end: To = None
    ) -> Response[bytes]:
        operator(request, BASIC_CHALLENGE)
        window = Window(start, end)
        html = page.render(
            await reports.failures(window), await reports.usage(window), await reports.value(window)
        )
        return Response(html.encode(), media_type="text/html; charset=utf-8")

    return [ingest, connection_failures, usage, value, retention, reports_page]


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ProblemDocument, description=description)


def _body(container: type[msgspec.Struct]) -> ResponseSpec:
    return ResponseSpec(data_container=container, description="JSON, or CSV with format=csv")
