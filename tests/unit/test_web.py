"""What every role's app shares: problem documents for every error, the body limit, no traces,
and the split between the public app and its operations app."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.testing import TestClient
from structlog.testing import capture_logs

from phoenix.common.bodies import JSON_BODY_PROBLEMS, decode_json
from phoenix.common.openapi import json_body, problem_answers
from phoenix.common.problems import Problem
from phoenix.common.web import SMALL_ANSWER, build_app, ops_app
from phoenix.settings import CommonSettings


class Greeting(msgspec.Struct, forbid_unknown_fields=True):
    name: str


@post("/echo", status_code=200)
async def echo(data: JSONBody[Greeting]) -> Greeting:
    return data


@post("/explode")
async def explode() -> None:
    raise RuntimeError("internal detail: postgres password is hunter2")


@pytest.fixture
def app() -> Litestar:
    return build_app(
        role="test",
        settings=CommonSettings(max_body_bytes=256),
        route_handlers=[echo, explode],
    )


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def ops(app: Litestar) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(ops_app(app)) as test_client:
        yield test_client


def test_the_public_app_serves_its_api_and_healthz_only(client: TestClient) -> None:  # type: ignore[type-arg]
    assert client.get("/healthz").status_code == 200
    assert client.post("/echo", json={"name": "ada"}).status_code == 200
    for path in ("/readyz", "/metrics", "/schema", "/schema/openapi.json", "/schema/swagger"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/problem+json"


def test_the_operations_app_serves_the_ops_routes_only(ops: TestClient) -> None:  # type: ignore[type-arg]
    for path in ("/healthz", "/readyz", "/metrics", "/schema/openapi.json"):
        assert ops.get(path).status_code == 200, path
    assert ops.post("/echo", json={"name": "ada"}).status_code == 404


def test_a_valid_body_is_answered(client: TestClient) -> None:  # type: ignore[type-arg]
    assert client.post("/echo", json={"name": "ada"}).json() == {"name": "ada"}


def test_a_body_over_the_limit_is_413_problem(client: TestClient) -> None:  # type: ignore[type-arg]
    answer = client.post("/echo", content=b'{"name": "' + b"a" * 1000 + b'"}')
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"name": 5}', b'{"name": "x", "extra": 1}', b"[]", b""],
)
def test_malformed_bodies_are_4xx_problems(client: TestClient, body: bytes) -> None:  # type: ignore[type-arg]
    answer = client.post("/echo", content=body, headers={"content-type": "application/json"})
    assert 400 <= answer.status_code < 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == answer.status_code


def test_an_unexpected_error_is_a_bare_500(client: TestClient) -> None:  # type: ignore[type-arg]
    answer = client.post("/explode")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert "hunter2" not in answer.text
    assert "Traceback" not in answer.text
    assert "RuntimeError" not in answer.text
    assert set(answer.json()) == {"type", "title", "status"}


@post("/orders/{order_id:str}")
async def lookup(order_id: FromPath[str], data: JSONBody[dict[str, str]]) -> None:
    raise KeyError(f"{order_id}/{data['card']}")  # the message quotes the path and the body


def test_a_500_logs_its_route_template_and_exception_type_and_never_the_body() -> None:
    app = build_app(role="test", settings=CommonSettings(), route_handlers=[lookup])
    with TestClient(app) as client, capture_logs() as lines:
        answer = client.post("/orders/ord-77231", json={"card": "4111-secret"})
    assert answer.status_code == 500
    (line,) = [line for line in lines if line["event"] == "unhandled_exception"]
    assert line["route"] == "/orders/{order_id}"
    assert line["method"] == "POST"
    assert line["error_type"] == "KeyError"
    assert line["frames"][-1].startswith("test_web.py:")  # where it was raised
    assert "4111-secret" not in repr(line)
    assert "ord-77231" not in repr(line)
    assert "exc_info" not in line


def test_unknown_routes_and_methods_are_problems(client: TestClient) -> None:  # type: ignore[type-arg]
    assert client.get("/nowhere").headers["content-type"] == "application/problem+json"
    wrong = client.get("/echo")
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == "application/problem+json"


def test_a_lost_database_connection_is_a_503_problem_not_a_500() -> None:
    from sqlalchemy.exc import OperationalError

    from phoenix.common.database import exception_handlers

    @post("/query")
    async def query() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))

    app = build_app(
        role="test",
        settings=CommonSettings(),
        route_handlers=[query],
        extra_exception_handlers=exception_handlers(),
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post("/query")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"
    assert "server closed" not in answer.text


def test_request_metrics_label_route_templates_and_never_a_concrete_path(
    client: TestClient,  # type: ignore[type-arg]
    ops: TestClient,  # type: ignore[type-arg]
) -> None:
    client.post("/echo", json={"name": "ada"})
    client.get("/nothing/203.0.113.7")
    client.post("/explode")
    metrics = ops.get("/metrics").text
    assert (
        'phoenix_requests_total{app_name="phoenix_test",method="POST",path="/echo",'
        'status_code="200"}' in metrics
    )
    assert 'path="<unmatched>",status_code="404"' in metrics
    assert 'path="/explode",status_code="500"' in metrics
    assert "203.0.113.7" not in metrics
    assert 'path="/metrics"' not in metrics


def test_request_metrics_count_made_up_methods_as_one(
    client: TestClient,  # type: ignore[type-arg]
    ops: TestClient,  # type: ignore[type-arg]
) -> None:
    for method in ("BREW", "WHEN-203-0-113-7"):
        client.request(method, "/echo")
    metrics = ops.get("/metrics").text
    assert 'method="OTHER",path="<unmatched>",status_code="405"' in metrics
    assert "BREW" not in metrics
    assert "WHEN-203" not in metrics


class Count(msgspec.Struct, forbid_unknown_fields=True):
    n: int


class Gone(Problem):
    status = 404
    slug = "gone"
    title = "No such thing"


@post(
    "/count",
    status_code=200,
    operation_class=json_body(Count, "A count"),
    responses=problem_answers(*JSON_BODY_PROBLEMS, Gone),
)
async def count(request: Request) -> Count:  # type: ignore[type-arg]
    return await decode_json(request, Count)


@get("/listed")
async def listed(limit: FromQuery[int] = 1) -> dict[str, int]:
    return {"limit": limit}


def _document() -> dict[str, Any]:
    app = build_app(role="test", settings=CommonSettings(), route_handlers=[count, listed])
    with TestClient(ops_app(app)) as test_client:
        document: dict[str, Any] = test_client.get("/schema/openapi.json").json()
    return document


def test_every_documented_error_is_a_problem_document() -> None:
    document = _document()
    problem = {"$ref": "#/components/schemas/ProblemDocument"}
    assert "ProblemDocument" in document["components"]["schemas"]
    answers = document["paths"]["/count"]["post"]["responses"]
    assert sorted(answers) == ["200", "400", "404", "413", "415", "422"]
    for status in ("400", "404", "413", "415", "422"):
        assert answers[status]["content"] == {"application/problem+json": {"schema": problem}}
    assert answers["404"]["description"] == "No such thing"
    # Litestar's own 400 for a route with parameters is the problem our handler sends, too.
    invalid = document["paths"]["/listed"]["get"]["responses"]["400"]
    assert invalid["content"] == {"application/problem+json": {"schema": problem}}


def test_a_body_decoded_by_hand_is_documented_as_its_struct() -> None:
    body = _document()["paths"]["/count"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["properties"] == {"n": {"type": "integer"}}
    assert schema["additionalProperties"] is False


def test_an_integral_float_is_the_integer_json_schema_says_it_is() -> None:
    app = build_app(role="test", settings=CommonSettings(), route_handlers=[count])
    with TestClient(app) as test_client:
        assert test_client.post("/count", json={"n": 81809.0}).json() == {"n": 81809}
        refused = test_client.post("/count", json={"n": 1.5})
    assert refused.status_code == 422
    assert "got `float`" in refused.json()["detail"]


async def _sent_in_chunks(
    app: Any, chunks: list[bytes], *, disconnect: bool = False
) -> tuple[int, bytes]:
    """POST /count with its body in ``chunks`` (no Content-Length, as with chunked encoding),
    or a client that goes away after them; the status and body answered."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": disconnect or i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    if disconnect:
        messages.append({"type": "http.disconnect"})
    answered: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answered["status"] = message["status"]
        else:
            answered["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/count",
        "raw_path": b"/count",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": None,
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    await app(scope, receive, send)
    return answered["status"], answered["body"]


def test_a_body_in_chunks_is_read_whole_and_the_limit_counts_what_arrives() -> None:
    app = build_app(role="test", settings=CommonSettings(max_body_bytes=64), route_handlers=[count])
    status, body = asyncio.run(_sent_in_chunks(app, [b'{"n"', b": 4", b"2}"]))
    assert (status, msgspec.json.decode(body)) == (200, {"n": 42})
    # Nothing announced the size: the limit is enforced on the bytes as they come.
    status, body = asyncio.run(_sent_in_chunks(app, [b'{"n": 1' + b" " * 40, b" " * 40 + b"}"]))
    assert status == 413
    assert msgspec.json.decode(body)["status"] == 413


def test_a_client_gone_before_its_body_ended_is_a_4xx_not_a_500() -> None:
    app = build_app(role="test", settings=CommonSettings(), route_handlers=[count])
    status, _ = asyncio.run(_sent_in_chunks(app, [b'{"n"'], disconnect=True))
    assert status == 400


@get("/large", sync_to_thread=False)
def large() -> dict[str, str]:
    return {"padding": "x" * 4096}


@get("/large-but-marked-small", sync_to_thread=False, opt={SMALL_ANSWER: True})
def marked() -> dict[str, str]:
    return {"padding": "x" * 4096}


def test_answers_are_gzipped_unless_the_route_says_they_are_always_small() -> None:
    app = build_app(role="test", settings=CommonSettings(), route_handlers=[large, marked])
    with TestClient(app) as client:
        gzip = {"accept-encoding": "gzip"}
        assert client.get("/large", headers=gzip).headers.get("content-encoding") == "gzip"
        answer = client.get("/large-but-marked-small", headers=gzip)
        assert "content-encoding" not in answer.headers
        assert answer.json() == {"padding": "x" * 4096}


def test_the_hottest_routes_skip_the_compression_middleware() -> None:
    from phoenix.config.api import NodeController, PublicController

    for handler in (NodeController.heartbeat, PublicController.connect):
        assert handler.opt.get(SMALL_ANSWER) is True, handler
