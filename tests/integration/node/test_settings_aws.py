"""NODE_TOKEN from AWS Secrets Manager (PHOENIX_NODE_SECRETS_SOURCE=aws).

AWS cannot run here, so this talks to moto's server: a fake of the Secrets Manager API, over
real HTTP through the real boto3 client. That is the one stand-in in this file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from phoenix_node.settings import SettingsError, load
from tests.harness.processes import free_port

BASE = {
    "PHOENIX_NODE_API_URL": "https://config.example.invalid",
    "PHOENIX_NODE_REGION": "de-fra",
    "PHOENIX_NODE_PUBLIC_IP": "192.0.2.1",
    "PHOENIX_NODE_SECRETS_SOURCE": "aws",
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    for key, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
    }.items():
        monkeypatch.setenv(key, value)
    yield boto3.client("secretsmanager")
    server.stop()


def test_the_node_token_is_read_from_secrets_manager(aws: Any) -> None:
    aws.create_secret(Name="nodes/NODE_TOKEN", SecretString="token-from-aws-0123456789")
    settings = load({**BASE, "PHOENIX_NODE_AWS_SECRET_ID": "nodes/NODE_TOKEN"})
    assert settings.node_token == "token-from-aws-0123456789"


def test_a_missing_secret_names_the_setting(aws: Any) -> None:
    with pytest.raises(SettingsError, match="PHOENIX_NODE_TOKEN: missing"):
        load({**BASE, "PHOENIX_NODE_AWS_SECRET_ID": "nodes/absent"})
