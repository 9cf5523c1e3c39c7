"""`phoenix serve` as a real process: health, readiness against real servers, problem documents,
metrics, OpenAPI, no client address or credential in any log line, and a clean SIGTERM."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.processes import RoleServer, SpareRedis

CLIENT_ADDRESS = "203.0.113.7"
BEARER = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLXZhbHVl.c2lnbmF0dXJl"


@pytest.fixture
def nodedb_url(database_name_factory: Callable[[str], str]) -> str:
    from phoenix.migrations import upgrade

    url = database_name_factory("nodedb")
    upgrade("nodedb", url)
    return url


@pytest.fixture
def config_server(
    tmp_path: Path, nodedb_url: str, spare_redis: SpareRedis, issuer_directory: Any
) -> Iterator[RoleServer]:
    server = RoleServer(
        "config",
        {
            "PHOENIX_NODEDB_URL": nodedb_url,
            "PHOENIX_REDIS_URL": spare_redis.url,
            "PHOENIX_READINESS_TIMEOUT": "1",
            "PHOENIX_MAX_BODY_BYTES": "1024",
            "PHOENIX_ISSUER_DIRECTORY_URL": issuer_directory.url,
        },
        tmp_path / "config.log",
    ).start()
    yield server
    server.stop()


def test_healthz_answers_while_the_process_runs(config_server: RoleServer) -> None:
    answer = httpx.get(config_server.base_url + "/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "role": "config"}


def test_readyz_follows_redis(config_server: RoleServer, spare_redis: SpareRedis) -> None:
    ready = httpx.get(config_server.base_url + "/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok", "issuer-directory": "ok"}

    spare_redis.stop()
    down = httpx.get(config_server.base_url + "/readyz", timeout=10)
    assert down.status_code == 503
    assert down.headers["content-type"] == "application/problem+json"
    problem = down.json()
    assert problem["checks"] == {"postgres": "ok", "redis": "down", "issuer-directory": "ok"}
    assert "redis" in problem["detail"]

    spare_redis.start()
    assert httpx.get(config_server.base_url + "/readyz", timeout=10).status_code == 200


def test_errors_are_problem_documents(config_server: RoleServer) -> None:
    missing = httpx.get(config_server.base_url + "/no/such/route")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["status"] == 404

    wrong_method = httpx.delete(config_server.base_url + "/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"


def test_metrics_are_labelled_by_route_template(config_server: RoleServer) -> None:
    httpx.get(config_server.base_url + "/healthz")
    metrics = httpx.get(config_server.base_url + "/metrics").text
    assert (
        'phoenix_requests_total{app_name="phoenix_config",method="GET",path="/healthz",status_code="200"}'
        in metrics
    )
    assert "phoenix_request_duration_seconds_bucket" in metrics


def test_openapi_is_served(config_server: RoleServer) -> None:
    schema = httpx.get(config_server.base_url + "/schema/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert "/readyz" in schema["paths"]


def test_no_client_address_or_credential_reaches_a_log_line(config_server: RoleServer) -> None:
    headers = {
        "X-Forwarded-For": CLIENT_ADDRESS,
        "X-Real-IP": CLIENT_ADDRESS,
        "Forwarded": f"for={CLIENT_ADDRESS}",
        "Authorization": f"Bearer {BEARER}",
        "Cookie": f"session={BEARER}",
    }
    for path in (
        "/healthz",
        f"/healthz?client={CLIENT_ADDRESS}",
        "/readyz",
        f"/nothing/{CLIENT_ADDRESS}",
    ):
        httpx.get(config_server.base_url + path, headers=headers)
    assert config_server.stop() == 0
    logs = config_server.logs()
    assert {"/healthz", "<unmatched>"} <= config_server.routes_logged()  # the access log ran
    for secret in (CLIENT_ADDRESS, BEARER, "127.0.0.1:", "session="):
        assert secret not in logs.replace(f"127.0.0.1:{config_server.port}", ""), secret


def test_sigterm_shuts_down_cleanly(config_server: RoleServer) -> None:
    assert config_server.stop() == 0
    assert "Traceback" not in config_server.logs()


def test_metrics_add_up_across_server_workers(
    tmp_path: Path, nodedb_url: str, redis_url: str, issuer_directory: Any
) -> None:
    server = RoleServer(
        "config",
        {
            "PHOENIX_NODEDB_URL": nodedb_url,
            "PHOENIX_REDIS_URL": redis_url,
            "PHOENIX_ISSUER_DIRECTORY_URL": issuer_directory.url,
        },
        tmp_path / "config.log",
        workers=2,
    ).start()
    try:
        with httpx.Client(base_url=server.base_url) as client:
            before = _healthz_count(client.get("/metrics").text)
            for _ in range(30):
                client.get("/healthz", headers={"Connection": "close"})
            after = _healthz_count(client.get("/metrics").text)
    finally:
        server.stop()
    assert after - before == 30


def _healthz_count(metrics: str) -> float:
    prefix = (
        'phoenix_requests_total{app_name="phoenix_config",method="GET",'
        'path="/healthz",status_code="200"}'
    )
    for line in metrics.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return 0.0
