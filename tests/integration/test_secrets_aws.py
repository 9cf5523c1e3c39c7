"""Secrets from AWS Secrets Manager, when PHOENIX_SECRETS_SOURCE=aws.

AWS cannot run here, so these tests talk to moto's server: a fake of the Secrets Manager API,
over real HTTP through the real boto3 client. That is the one stand-in in this file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import boto3
import pytest

from phoenix.config.settings import ConfigSettings
from phoenix.dev.probes import free_port
from phoenix.settings import SettingsError, load

NODEDB_URL = "postgresql://phoenix:from-aws@127.0.0.1:5432/phoenix_nodes"


@pytest.fixture(scope="module")
def aws_env() -> Iterator[dict[str, str]]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "PHOENIX_ENV": "test",
        "PHOENIX_SECRETS_SOURCE": "aws",
        "PHOENIX_AWS_SECRETS_PREFIX": "phoenix-test/",
    }
    client = boto3.client(
        "secretsmanager",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="eu-central-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_secret(Name="phoenix-test/NODEDB_URL", SecretString=NODEDB_URL)
    yield env
    server.stop()


@pytest.fixture
def aws_process_env(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in aws_env.items():
        monkeypatch.setenv(key, value)
    return aws_env


def test_a_secret_is_read_from_secrets_manager(aws_process_env: dict[str, str]) -> None:
    settings = load(ConfigSettings, aws_process_env)
    assert settings.nodedb_url == NODEDB_URL


def test_an_environment_variable_overrides_secrets_manager(aws_process_env: dict[str, str]) -> None:
    env = {**aws_process_env, "PHOENIX_NODEDB_URL": "postgresql://local/db"}
    assert load(ConfigSettings, env).nodedb_url == "postgresql://local/db"


def test_a_secret_missing_everywhere_names_the_variable(aws_process_env: dict[str, str]) -> None:
    env = {**aws_process_env, "PHOENIX_AWS_SECRETS_PREFIX": "nowhere/"}
    with pytest.raises(SettingsError) as error:
        load(ConfigSettings, env)
    assert error.value.variable == "PHOENIX_NODEDB_URL"


def test_a_role_process_starts_from_secrets_manager(aws_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "phoenix", "dev", "settings", "--role", "config"],
        env={**os.environ, **aws_env, "PHOENIX_ENV": "dev"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"nodedb_url": "***"' in result.stdout
    assert "from-aws" not in result.stdout
