"""`phoenix serve` as a real process: health, readiness against real servers, problem documents,
metrics, OpenAPI, no client address or credential in any log line, and a clean SIGTERM. The ops
surfaces (readiness, metrics, schema) answer on the ops port only, which is loopback by default."""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from phoenix.dev.probes import free_port
from tests.conftest import Tree
from tests.harness.processes import REPO, RoleServer, SpareRedis

OPS_PATHS = ("/readyz", "/metrics", "/schema/openapi.json")

CLIENT_ADDRESS = "203.0.113.7"
BEARER = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLXZhbHVl.c2lnbmF0dXJl"


@pytest.fixture
def nodedb_url(migrated_database: Callable[[Tree], str]) -> str:
    return migrated_database("nodedb")


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


def test_ops_surfaces_answer_on_the_ops_port_and_not_on_the_public_one(
    config_server: RoleServer,
) -> None:
    for path in OPS_PATHS:
        public = httpx.get(config_server.base_url + path)
        assert public.status_code == 404, path
        assert public.headers["content-type"] == "application/problem+json"
        assert httpx.get(config_server.ops_url + path).status_code == 200, path
    for url in (config_server.base_url, config_server.ops_url):
        assert httpx.get(url + "/healthz").json() == {"status": "ok", "role": "config"}


def test_the_ops_port_is_not_a_second_public_port(config_server: RoleServer) -> None:
    # The role's API (here: config's token challenge) is not served on the ops port.
    assert httpx.get(config_server.base_url + "/v1/token-challenge").status_code == 200
    assert httpx.get(config_server.ops_url + "/v1/token-challenge").status_code == 404


def test_the_ops_port_listens_on_loopback_unless_told_otherwise(config_server: RoleServer) -> None:
    assert "PHOENIX_OPS_HOST" not in config_server.env
    assert _listening_addresses(config_server.ops_port) == {ipaddress.ip_address("127.0.0.1")}


def test_serve_refuses_an_ops_port_that_is_taken_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "phoenix",
                "serve",
                "--role",
                "worker",
                "--port",
                str(free_port()),
            ],
            env={
                **os.environ,
                "PHOENIX_ENV": "test",
                "PHOENIX_BROKER": "redis",
                "PHOENIX_BROKER_URL": "redis://127.0.0.1:1/0",
                "PHOENIX_OPS_PORT": str(port),
            },
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a server that did start is stopped with its workers
        )
        try:
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert process.returncode == 2
    assert stderr.startswith(f"phoenix: PHOENIX_OPS_PORT: cannot listen on 127.0.0.1:{port}")
    assert len(stderr.splitlines()) == 1


def test_readyz_follows_redis(config_server: RoleServer, spare_redis: SpareRedis) -> None:
    ready = httpx.get(config_server.ops_url + "/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok", "issuer-directory": "ok"}

    spare_redis.stop()
    down = _wait_for_readiness(config_server, 503)
    assert down.status_code == 503
    assert down.headers["content-type"] == "application/problem+json"
    problem = down.json()
    assert problem["checks"] == {"postgres": "ok", "redis": "down", "issuer-directory": "ok"}
    assert "redis" in problem["detail"]

    spare_redis.start()
    assert _wait_for_readiness(config_server, 200).status_code == 200


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
    metrics = httpx.get(config_server.ops_url + "/metrics").text
    assert (
        'phoenix_requests_total{app_name="phoenix_config",method="GET",path="/healthz",status_code="200"}'
        in metrics
    )
    assert "phoenix_request_duration_seconds_bucket" in metrics


def test_openapi_documents_the_public_port(config_server: RoleServer) -> None:
    schema = httpx.get(config_server.ops_url + "/schema/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert "/healthz" in schema["paths"]
    assert not set(OPS_PATHS) & set(schema["paths"])


def test_no_client_address_or_credential_reaches_a_log_line(config_server: RoleServer) -> None:
    headers = {
        "X-Forwarded-For": CLIENT_ADDRESS,
        "X-Real-IP": CLIENT_ADDRESS,
        "Forwarded": f"for={CLIENT_ADDRESS}",
        "Authorization": f"Bearer {BEARER}",
        "Cookie": f"session={BEARER}",
    }
    for url in (
        config_server.base_url + "/healthz",
        config_server.base_url + f"/healthz?client={CLIENT_ADDRESS}",
        config_server.ops_url + "/readyz",
        config_server.base_url + f"/nothing/{CLIENT_ADDRESS}",
    ):
        httpx.get(url, headers=headers)
    assert config_server.stop() == 0
    logs = config_server.logs()
    assert {"/healthz", "/readyz", "<unmatched>"} <= config_server.routes_logged()  # logged
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
            before = _healthz_count(httpx.get(server.ops_url + "/metrics").text)
            for _ in range(30):
                client.get("/healthz", headers={"Connection": "close"})
            after = _healthz_count(httpx.get(server.ops_url + "/metrics").text)
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


def _wait_for_readiness(server: RoleServer, status: int) -> httpx.Response:
    """/readyz until it answers ``status`` (a result is reused for a second, so a change shows
    within a few tries), or the last answer."""
    deadline = time.monotonic() + 30
    answer = httpx.get(server.ops_url + "/readyz", timeout=10)
    while answer.status_code != status and time.monotonic() < deadline:
        time.sleep(0.2)  # a result is reused for a second: asking faster learns nothing
        answer = httpx.get(server.ops_url + "/readyz", timeout=10)
    return answer


def _listening_addresses(port: int) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Local addresses of the TCP sockets listening on ``port``, from /proc/net/tcp{,6}."""
    found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # The kernel prints each 32-bit word in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(ipaddress.ip_address(words))
    return found
