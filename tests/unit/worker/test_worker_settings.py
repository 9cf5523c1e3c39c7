"""Worker settings fail fast, naming the variable to fix."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from phoenix.config.settings import ConfigSettings
from phoenix.settings import SettingsError, load
from phoenix.worker.settings import WorkerSettings
from tests.unit.test_cli import assert_one_line_naming, phoenix

SEED = "ZGV2LW9ubHktYmxvY2tsaXN0LXNpZ25pbmctc2VlZCE="


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PHOENIX_BLOCKLIST_TARGET": "file:///tmp/x"}, "PHOENIX_BLOCKLIST_SIGNING_KEY"),
        (
            {
                "PHOENIX_BLOCKLIST_TARGET": "file:///tmp/x",
                "PHOENIX_BLOCKLIST_SIGNING_KEY": "c2hvcnQ=",
            },
            "PHOENIX_BLOCKLIST_SIGNING_KEY",
        ),
        (
            {"PHOENIX_BLOCKLIST_TARGET": "ftp://x", "PHOENIX_BLOCKLIST_SIGNING_KEY": SEED},
            "PHOENIX_BLOCKLIST_TARGET",
        ),
        ({"PHOENIX_BLOCKLIST_MAX_SHRINK": "1.5"}, "PHOENIX_BLOCKLIST_MAX_SHRINK"),
        ({"PHOENIX_NODE_PROVIDER": "aws"}, "PHOENIX_MONITOR_TOKEN"),
        (
            {"PHOENIX_NODE_PROVIDER": "aws", "PHOENIX_MONITOR_TOKEN": "m" * 32},
            "PHOENIX_NODE_AWS_GROUPS",
        ),
        (
            {
                "PHOENIX_NODE_PROVIDER": "aws",
                "PHOENIX_MONITOR_TOKEN": "m" * 32,
                "PHOENIX_NODE_AWS_GROUPS": " , ",
            },
            "PHOENIX_NODE_AWS_GROUPS",
        ),
        ({"PHOENIX_CANARY_ZONES": "zen.example"}, "PHOENIX_MONITOR_TOKEN"),
        ({"PHOENIX_FLEET_METRICS": "cloudwatch"}, "PHOENIX_MONITOR_TOKEN"),
        ({"PHOENIX_FLEET_METRICS": "prometheus"}, "PHOENIX_FLEET_METRICS"),
        ({"PHOENIX_NODE_PROVIDER": "gcp"}, "PHOENIX_NODE_PROVIDER"),
        ({"PHOENIX_ISSUER_KEY_MAX_AGE": "thirty days"}, "PHOENIX_ISSUER_KEY_MAX_AGE"),
        ({"PHOENIX_ISSUER_KEY_MAX_AGE": "0"}, "PHOENIX_ISSUER_KEY_MAX_AGE"),
        ({"PHOENIX_ISSUER_KEY_MAX_AGE": "P400D"}, "PHOENIX_ISSUER_KEY_MAX_AGE"),
        ({"PHOENIX_ISSUER_KEY_WARN_DAYS": "0"}, "PHOENIX_ISSUER_KEY_WARN_DAYS"),
        ({"PHOENIX_ISSUER_DIRECTORY_URL": "auth:8081"}, "PHOENIX_ISSUER_DIRECTORY_URL"),
    ],
)
def test_a_bad_worker_setting_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as error:
        load(WorkerSettings, {"PHOENIX_ENV": "test", **env})
    assert error.value.variable == variable


def test_lists_are_comma_separated() -> None:
    settings = load(
        WorkerSettings,
        {"PHOENIX_ENV": "test", "PHOENIX_BLOCKLIST_VARIANTS": "base, fakenews-gambling"},
    )
    assert settings.blocklist_variants == ["base", "fakenews-gambling"]


def test_the_aws_provider_only_acts_in_the_groups_an_operator_names() -> None:
    settings = load(
        WorkerSettings,
        {
            "PHOENIX_ENV": "test",
            "PHOENIX_NODE_PROVIDER": "aws",
            "PHOENIX_MONITOR_TOKEN": "m" * 32,
            "PHOENIX_NODE_AWS_GROUPS": "exit-nodes-fra, exit-nodes-ams",
        },
    )
    assert settings.node_aws_groups == ["exit-nodes-fra", "exit-nodes-ams"]
    # Without groups the worker does not start: exit 2, one line naming the variable.
    refused = phoenix(
        "serve",
        "--role",
        "worker",
        PHOENIX_ENV="test",
        PHOENIX_NODE_PROVIDER="aws",
        PHOENIX_MONITOR_TOKEN="m" * 32,
    )
    assert_one_line_naming(refused, "PHOENIX_NODE_AWS_GROUPS")


def _default(cls: type[msgspec.Struct], name: str) -> object:
    return next(f.default for f in msgspec.structs.fields(cls) if f.name == name)


def test_the_worker_redis_and_broker_default_to_a_database_that_is_not_configs() -> None:
    settings = load(WorkerSettings, {"PHOENIX_ENV": "test"})
    config_redis = _default(ConfigSettings, "redis_url")
    assert settings.redis_url == "redis://127.0.0.1:6379/1"
    assert settings.resolved_broker_url == "redis://127.0.0.1:6379/1"
    assert config_redis == "redis://127.0.0.1:6379/0"


def test_the_worker_is_never_handed_configs_redis_credential_by_a_shared_secret() -> None:
    # Secrets Manager holds config's Redis URL (with the credential that reads spent-token marks
    # and peer streams) under REDIS_URL; the worker asks only for ids of its own.
    store = {
        "REDIS_URL": "redis://config:config-secret@redis.internal:6379/0",
        "BROKER_URL": "redis://config:config-secret@redis.internal:6379/0",
    }
    asked: list[str] = []

    def fetch(name: str) -> str | None:
        asked.append(name)
        return store.get(name)

    settings = load(WorkerSettings, {"PHOENIX_ENV": "test"}, fetch_secret=fetch)
    assert "config-secret" not in settings.redis_url + settings.resolved_broker_url
    assert {"WORKER_REDIS_URL", "WORKER_BROKER_URL"} <= set(asked)
    assert not {"REDIS_URL", "BROKER_URL"} & set(asked)

    store["WORKER_REDIS_URL"] = "redis://worker:w@redis.internal:6379/1"
    store["WORKER_BROKER_URL"] = "redis://worker:w@redis.internal:6379/1"
    settings = load(WorkerSettings, {"PHOENIX_ENV": "test"}, fetch_secret=store.get)
    assert settings.redis_url == store["WORKER_REDIS_URL"]
    assert settings.resolved_broker_url == store["WORKER_BROKER_URL"]


@pytest.mark.parametrize(("value", "days"), [("P30D", 30), ("P7DT12H", 7.5), ("86400", 1)])
def test_the_issuer_key_max_age_is_an_iso_8601_duration_or_seconds(value: str, days: float) -> None:
    settings = load(WorkerSettings, {"PHOENIX_ENV": "test", "PHOENIX_ISSUER_KEY_MAX_AGE": value})
    assert settings.issuer_key_max_age == timedelta(days=days)
