"""Worker fixtures: a local hosts server, moto's AWS server, a Redis namespace of the test's own."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
import redis
from nacl.signing import SigningKey

from phoenix.dev.probes import free_port
from phoenix.worker.blocklist import Compiler
from phoenix.worker.publish import LocalTarget, Target
from tests.harness.hosts_server import HostsServer

AWS_REGION = "eu-central-1"


@pytest.fixture
def hosts_server() -> Iterator[HostsServer]:
    server = HostsServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's server: AWS cannot run here, so S3 and Auto Scaling are faked over real HTTP."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": AWS_REGION,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def s3_client(moto_url: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name=AWS_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def namespace(redis_url: str, unique: str) -> Iterator[str]:
    """A Redis key prefix of the test's own; its keys are deleted afterwards (never a flush)."""
    name = f"phoenix-test-{unique}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def signing_seed() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def make_compiler(
    target: Target, base_url: str, redis_url: str, namespace: str, seed: str, **changes: object
) -> Compiler:
    options: dict[str, object] = {
        "http": httpx.Client(timeout=10),
        "redis": redis.Redis.from_url(redis_url),
        "target": target,
        "signing_key": SigningKey(base64.b64decode(seed)),
        "base_url": base_url,
        "namespace": namespace,
        "false_positive_rate": 1e-6,
        "max_shrink": 0.5,
        "max_growth": 10.0,
        "max_bytes": 1024 * 1024,
        **changes,
    }
    return Compiler(**options)  # type: ignore[arg-type]


@pytest.fixture
def local_target(tmp_path: Path) -> LocalTarget:
    return LocalTarget(tmp_path / "published")
