"""Production refuses development defaults, naming the variable, whatever the role.

The check walks every loaded value (phoenix.production), so these tests use the roles' real
Structs through the real loader: a default nobody passed is refused as surely as a value given.
"""

from __future__ import annotations

import msgspec
import pytest

from phoenix.analytics.settings import AnalyticsSettings
from phoenix.config.settings import ConfigSettings
from phoenix.production import (
    DEV_BLOCKLIST_SIGNING_SEED,
    DEV_MONITOR_TOKEN,
    DEV_OPERATOR_TOKEN,
    refusals,
)
from phoenix.settings import SettingsError, load, production_problems
from phoenix.worker.settings import WorkerSettings

# Config in production with every development default replaced.
CONFIG_PROD = {
    "PHOENIX_ENV": "prod",
    "PHOENIX_NODEDB_URL": "postgresql://phoenix:pw@nodedb.internal.example:5432/phoenix_nodes",
    "PHOENIX_REDIS_URL": "redis://:pw@redis.internal.example:6379/0",
    "PHOENIX_ISSUER_DIRECTORY_URL": (
        "https://auth.example.com/.well-known/private-token-issuer-directory"
    ),
    "PHOENIX_ISSUER_NAME": "auth.example.com",
    "PHOENIX_ORIGIN_NAME": "config.example.com",
}


def refused(cls: type[msgspec.Struct], env: dict[str, str]) -> SettingsError:
    with pytest.raises(SettingsError) as error:
        load(cls, env)
    assert "\n" not in str(error.value)  # one line, always
    return error.value


def test_config_with_production_values_loads() -> None:
    settings = load(ConfigSettings, CONFIG_PROD)
    assert production_problems(settings) == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        # Names in the reserved .invalid domain, bare or inside a URL.
        ("PHOENIX_ISSUER_NAME", "auth.phoenix.invalid"),
        ("PHOENIX_ORIGIN_NAME", "config.phoenix.invalid:443"),
        ("PHOENIX_ISSUER_DIRECTORY_URL", "https://auth.phoenix.invalid/.well-known/x"),
        # URLs that point at this machine, whatever the scheme.
        ("PHOENIX_REDIS_URL", "redis://127.0.0.1:6379/0"),
        ("PHOENIX_REDIS_URL", "redis://localhost/0"),
        ("PHOENIX_NODEDB_URL", "postgresql://u:pw@[::1]:5432/phoenix_nodes"),
        ("PHOENIX_NODEDB_URL", "postgresql://u:pw@0.0.0.0/phoenix_nodes"),
        ("PHOENIX_ISSUER_DIRECTORY_URL", "https://auth.localhost/.well-known/x"),
        # Plain http, even to a real name.
        ("PHOENIX_ISSUER_DIRECTORY_URL", "http://auth.example.com/.well-known/x"),
        # The credentials `make dev` runs with.
        ("PHOENIX_MONITOR_TOKEN", DEV_MONITOR_TOKEN),
        ("PHOENIX_OPERATOR_TOKEN", DEV_OPERATOR_TOKEN),
    ],
)
def test_each_development_default_is_refused_in_production_naming_its_variable(
    variable: str, value: str
) -> None:
    error = refused(ConfigSettings, {**CONFIG_PROD, variable: value})
    assert error.variable == variable
    assert "PHOENIX_ENV=prod" in error.problem


@pytest.mark.parametrize(
    "variable", ["PHOENIX_REDIS_URL", "PHOENIX_ISSUER_DIRECTORY_URL", "PHOENIX_ISSUER_NAME"]
)
def test_the_roles_own_defaults_are_refused_in_production(variable: str) -> None:
    """Leaving a setting out is no way around the check: its development default is refused."""
    env = {k: v for k, v in CONFIG_PROD.items() if k != variable}
    assert refused(ConfigSettings, env).variable == variable


def test_every_refusal_is_listed_in_field_order() -> None:
    settings = load(
        ConfigSettings,
        {"PHOENIX_ENV": "prod", "PHOENIX_NODEDB_URL": CONFIG_PROD["PHOENIX_NODEDB_URL"]},
        refuse_development_defaults=False,
    )
    assert [problem.variable for problem in production_problems(settings)] == [
        "PHOENIX_REDIS_URL",
        "PHOENIX_ISSUER_DIRECTORY_URL",
        "PHOENIX_ISSUER_NAME",
        "PHOENIX_ORIGIN_NAME",
    ]


def test_a_refused_secret_is_not_quoted_back() -> None:
    error = refused(
        ConfigSettings, {**CONFIG_PROD, "PHOENIX_NODEDB_URL": "postgresql://u:hunter2@127.0.0.1/x"}
    )
    assert "hunter2" not in str(error)
    assert "127.0.0.1" in error.problem


def test_worker_development_credentials_and_urls_are_refused() -> None:
    worker = {
        "PHOENIX_ENV": "prod",
        "PHOENIX_REDIS_URL": "redis://redis.internal.example:6379/1",
        "PHOENIX_BROKER_URL": "redis://redis.internal.example:6379/1",
        "PHOENIX_CONFIG_URL": "https://config.internal.example",
        "PHOENIX_ISSUER_DIRECTORY_URL": CONFIG_PROD["PHOENIX_ISSUER_DIRECTORY_URL"],
    }
    for variable, value in (
        ("PHOENIX_CONFIG_URL", "http://127.0.0.1:8082"),
        ("PHOENIX_ANALYTICS_URL", "http://analytics.internal.example"),
        ("PHOENIX_BLOCKLIST_SIGNING_KEY", DEV_BLOCKLIST_SIGNING_SEED),
    ):
        extra = {variable: value}
        if variable == "PHOENIX_BLOCKLIST_SIGNING_KEY":
            extra["PHOENIX_BLOCKLIST_TARGET"] = "s3://bucket/blocklist"
        assert refused(WorkerSettings, {**worker, **extra}).variable == variable


def test_outside_production_the_development_defaults_are_allowed() -> None:
    for env in ("dev", "test"):
        settings = load(
            ConfigSettings,
            {
                "PHOENIX_ENV": env,
                "PHOENIX_NODEDB_URL": "postgresql://postgres@127.0.0.1/phoenix_nodes",
                "PHOENIX_MONITOR_TOKEN": DEV_MONITOR_TOKEN,
            },
        )
        assert production_problems(settings) == []


def test_what_production_allows_empty_optional_urls_listeners_and_other_schemes() -> None:
    """Narrow by design: an unused empty URL, a loopback listener behind a proxy, TLS-less
    database schemes to a real host, paths and file targets are not development defaults."""
    settings = load(
        AnalyticsSettings,
        {"PHOENIX_ENV": "prod", "PHOENIX_HOST": "127.0.0.1", "PHOENIX_CLICKHOUSE_URL": ""},
    )
    assert production_problems(settings) == []
    assert (
        refusals(
            [
                ("PHOENIX_ISSUER_REQUEST_URI", "/v1/tokens", False),
                ("PHOENIX_BLOCKLIST_TARGET", "file:///srv/blocklist", False),
                ("PHOENIX_CANARY_RESOLVER", "127.0.0.1:53", False),
                ("PHOENIX_BROKER_URL", "amqp://u:pw@mq.internal.example:5672/%2F", True),
                ("PHOENIX_NAMES", ["a.example.com", "invalid.example.com"], False),
            ]
        )
        == []
    )


def test_a_list_is_refused_by_its_first_bad_item() -> None:
    assert refusals([("PHOENIX_X", ["ok.example.com", "x.invalid", "y.invalid"], False)]) == [
        (
            "PHOENIX_X",
            "'x.invalid' names the reserved .invalid domain (a development default), "
            "refused in PHOENIX_ENV=prod",
        )
    ]


@pytest.mark.parametrize("workers", ["0", "-3", "abc"])
def test_workers_must_be_a_positive_number(workers: str) -> None:
    with pytest.raises(SettingsError) as error:
        load(AnalyticsSettings, {"PHOENIX_ENV": "test", "PHOENIX_WORKERS": workers})
    assert error.value.variable == "PHOENIX_WORKERS"


def test_host_and_workers_come_from_the_environment() -> None:
    settings = load(
        AnalyticsSettings,
        {"PHOENIX_ENV": "test", "PHOENIX_HOST": "0.0.0.0", "PHOENIX_WORKERS": "4"},
    )
    assert (settings.host, settings.workers) == ("0.0.0.0", 4)


def test_a_public_name_that_points_at_this_machine_is_refused() -> None:
    """make dev's challenge names 127.0.0.1:8081; copied into production it names the client."""
    error = refused(ConfigSettings, {**CONFIG_PROD, "PHOENIX_ISSUER_NAME": "127.0.0.1:8081"})
    assert error.variable == "PHOENIX_ISSUER_NAME"
    assert "points at this machine" in error.problem
