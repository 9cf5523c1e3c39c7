"""`make dev` publishes a blocklist offline: the dev worker serves a hosts file Phoenix ships.

The worker runs as `phoenix serve --role worker` with `make dev`'s settings; the compiler fetches
from it over real HTTP, with the same conditional GET it sends to GitHub.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from litestar.testing import TestClient

from phoenix.client.blocklist import check
from phoenix.client.endpoints import DEV_BLOCKLIST_KEY, Endpoints
from phoenix.dev.environment import DEV_ENV
from phoenix.dev.keys import blocklist_verify_key
from phoenix.worker.app import create_app
from phoenix.worker.publish import LocalTarget
from phoenix.worker.settings import WorkerSettings
from tests.harness.processes import RoleServer
from tests.integration.worker.conftest import make_compiler

SEED = DEV_ENV["PHOENIX_BLOCKLIST_SIGNING_KEY"]


def answers(server: RoleServer, route: str) -> list[int]:
    """The statuses of the requests to ``route`` in the server's access log, in order."""
    records = (json.loads(line) for line in server.logs().splitlines() if line.startswith("{"))
    return [r["status"] for r in records if r.get("event") == "request" and r["route"] == route]


@pytest.fixture
def dev_worker(
    tmp_path: Path, local_target: LocalTarget, redis_url: str, namespace: str
) -> Iterator[RoleServer]:
    server = RoleServer(
        "worker",
        {
            "PHOENIX_ENV": "dev",
            "PHOENIX_BROKER": "redis",
            "PHOENIX_BROKER_URL": redis_url,
            "PHOENIX_REDIS_URL": redis_url,
            "PHOENIX_BROKER_NAMESPACE": namespace,
            "PHOENIX_WORKER_SCHEDULE": "false",  # the test runs the compiler itself
            "PHOENIX_BLOCKLIST_TARGET": f"file://{local_target.root}",
            "PHOENIX_BLOCKLIST_SIGNING_KEY": SEED,
        },
        tmp_path / "worker.log",
    ).start()
    yield server
    assert server.stop() == 0


def test_the_dev_worker_publishes_the_shipped_list_offline_and_then_gets_a_304(
    dev_worker: RoleServer, local_target: LocalTarget, redis_url: str, namespace: str
) -> None:
    # make dev's source URL, on the port this test's worker listens on.
    source = urlsplit(DEV_ENV["PHOENIX_BLOCKLIST_BASE_URL"])
    base_url = source._replace(netloc=f"127.0.0.1:{dev_worker.port}").geturl()
    compiler = make_compiler(local_target, base_url, redis_url, namespace, SEED)
    assert compiler.compile("base") == "published"
    manifest = compiler.current_manifest("base")
    assert manifest is not None
    assert manifest.names is not None
    names = local_target.read(manifest.names)
    assert names is not None
    assert "doubleclick.net" in names.decode().splitlines()
    assert compiler.compile("base") == "not-modified"
    assert answers(dev_worker, "/dev-hosts/hosts") == [200, 304]
    # What `phoenix-client blocklist check` does, with the key it ships for make dev.
    assert blocklist_verify_key(SEED) == DEV_BLOCKLIST_KEY
    endpoints = Endpoints.from_env(
        {}, blocklist_url=f"{dev_worker.base_url}/blocklist", home=str(local_target.root)
    )
    with httpx.Client(timeout=10) as http:
        assert check(http, endpoints, "ads.DoubleClick.net", "base") == "doubleclick.net"
        assert check(http, endpoints, "example.org", "base") is None


def test_the_dev_worker_answers_a_conditional_get_by_etag_or_by_date(
    dev_worker: RoleServer,
) -> None:
    url = f"{dev_worker.base_url}/dev-hosts/hosts"
    first = httpx.get(url)
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/plain; charset=utf-8"
    assert first.text.startswith("# Title:")
    etag, date = first.headers["etag"], first.headers["last-modified"]
    assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert httpx.get(url, headers={"If-Modified-Since": date}).status_code == 304
    # If-None-Match decides when both are sent (RFC 9110 §13.2.2).
    both = {"If-None-Match": '"another"', "If-Modified-Since": date}
    assert httpx.get(url, headers=both).status_code == 200


@pytest.mark.parametrize("env", ["prod", "test"])
def test_the_hosts_route_does_not_exist_outside_development(
    env: str, redis_url: str, namespace: str, local_target: LocalTarget
) -> None:
    settings = WorkerSettings(
        env=env,  # type: ignore[arg-type]
        broker_url=redis_url,
        redis_url=redis_url,
        broker_namespace=namespace,
        worker_schedule=False,
        blocklist_target=f"file://{local_target.root}",
        blocklist_signing_key=base64.b64encode(bytes(32)).decode(),
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/dev-hosts/hosts").status_code == 404
