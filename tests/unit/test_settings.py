"""Settings are typed, fail fast naming the variable, and cannot carry another role's secrets."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from phoenix.analytics.settings import AnalyticsSettings
from phoenix.auth.settings import AuthSettings
from phoenix.config.settings import ConfigSettings
from phoenix.settings import SettingsError, documented_variables, load, secret_fields
from phoenix.worker.settings import WorkerSettings

URL = "postgresql://postgres@127.0.0.1:5432/phoenix_nodes"
# The loader's own behaviour, apart from what production refuses (tests/unit/
# test_production_settings.py): these local URLs are development values.
TEST = {"PHOENIX_ENV": "test"}


def test_fields_are_read_from_prefixed_variables_and_converted() -> None:
    settings = load(
        ConfigSettings, {**TEST, "PHOENIX_NODEDB_URL": URL, "PHOENIX_NODEDB_POOL_SIZE": "3"}
    )
    assert settings.nodedb_url == URL
    assert settings.nodedb_pool_size == 3
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


def test_dns_variants_map_each_variant_to_its_resolver_address() -> None:
    settings = load(
        ConfigSettings,
        {
            **TEST,
            "PHOENIX_NODEDB_URL": URL,
            "PHOENIX_DNS_VARIANTS": "base=100.64.0.2,social=100.64.0.3",
        },
    )
    assert settings.dns_resolvers == {"base": "100.64.0.2", "social": "100.64.0.3"}
    assert load(ConfigSettings, {**TEST, "PHOENIX_NODEDB_URL": URL}).dns_resolvers == {
        "base": "100.64.0.2"
    }


def test_a_missing_required_setting_names_its_variable() -> None:
    with pytest.raises(SettingsError) as error:
        load(ConfigSettings, {})
    assert error.value.variable == "PHOENIX_NODEDB_URL"
    assert "missing" in str(error.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PHOENIX_NODEDB_POOL_SIZE", "many"),
        ("PHOENIX_NODEDB_POOL_SIZE", "1"),  # one is the lease placements' own
        ("PHOENIX_READINESS_TIMEOUT", "soon"),
        ("PHOENIX_LOG_LEVEL", "loud"),
        ("PHOENIX_ENV", "staging"),
        # DNS variants: variant=address, the address a private tunnel-only one, once each.
        ("PHOENIX_DNS_VARIANTS", "base"),
        ("PHOENIX_DNS_VARIANTS", "none=100.64.0.3"),
        ("PHOENIX_DNS_VARIANTS", "Base=100.64.0.3"),
        ("PHOENIX_DNS_VARIANTS", "base=fd00::53"),
        ("PHOENIX_DNS_VARIANTS", "base=10.64.0.53"),  # a client pool address
        ("PHOENIX_DNS_VARIANTS", "base=100.64.0.2,social=100.64.0.2"),
        ("PHOENIX_DNS_VARIANTS", "base=8.8.8.8"),  # would capture clients' own DNS
        ("PHOENIX_DNS_VARIANTS", "base=169.254.169.254"),
        ("PHOENIX_DNS_VARIANTS", "base=127.0.0.53"),
    ],
)
def test_a_malformed_setting_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        load(ConfigSettings, {**TEST, "PHOENIX_NODEDB_URL": URL, variable: value})
    assert error.value.variable == variable


def test_a_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "nodedb-url"
    secret.write_text(URL + "\n")
    settings = load(ConfigSettings, {**TEST, "PHOENIX_NODEDB_URL_FILE": str(secret)})
    assert settings.nodedb_url == URL


def test_an_unreadable_secret_file_names_the_file_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as error:
        load(ConfigSettings, {**TEST, "PHOENIX_NODEDB_URL_FILE": str(tmp_path / "absent")})
    assert error.value.variable == "PHOENIX_NODEDB_URL_FILE"


def test_the_plain_variable_wins_over_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "nodedb-url"
    secret.write_text("postgresql://elsewhere/db")
    settings = load(
        ConfigSettings, {**TEST, "PHOENIX_NODEDB_URL": URL, "PHOENIX_NODEDB_URL_FILE": str(secret)}
    )
    assert settings.nodedb_url == URL


def test_non_secret_fields_have_no_file_form(tmp_path: Path) -> None:
    size = tmp_path / "size"
    size.write_text("7")
    settings = load(
        ConfigSettings,
        {**TEST, "PHOENIX_NODEDB_URL": URL, "PHOENIX_NODEDB_POOL_SIZE_FILE": str(size)},
    )
    assert settings.nodedb_pool_size == 10


def test_secrets_come_from_the_fetcher_when_given() -> None:
    asked: list[str] = []

    def fetch(name: str) -> str | None:
        asked.append(name)
        return URL if name == "NODEDB_URL" else None

    settings = load(ConfigSettings, TEST, fetch_secret=fetch)
    assert settings.nodedb_url == URL
    assert "NODEDB_URL" in asked
    assert "NODEDB_POOL_SIZE" not in asked  # only secrets are looked up


def test_an_unknown_secrets_source_is_refused() -> None:
    with pytest.raises(SettingsError) as error:
        load(ConfigSettings, {**TEST, "PHOENIX_NODEDB_URL": URL, "PHOENIX_SECRETS_SOURCE": "vault"})
    assert error.value.variable == "PHOENIX_SECRETS_SOURCE"


def _field_names(cls: type[msgspec.Struct]) -> set[str]:
    return {field.name for field in msgspec.structs.fields(cls)}


def test_config_settings_cannot_carry_userdb_or_signing_secrets() -> None:
    names = _field_names(ConfigSettings)
    assert not {
        n for n in names if "userdb" in n or "signing" in n or "firebase" in n or "stripe" in n
    }


def test_auth_settings_cannot_carry_nodedb_or_node_secrets() -> None:
    names = _field_names(AuthSettings)
    assert not {n for n in names if "nodedb" in n or "node_token" in n or "redis" in n}


def test_analytics_and_worker_settings_carry_no_database_url() -> None:
    for cls in (AnalyticsSettings, WorkerSettings):
        assert not {n for n in _field_names(cls) if "userdb" in n or "nodedb" in n}


def test_secret_fields_have_a_file_variable() -> None:
    assert secret_fields(AuthSettings) == [
        "userdb_url",
        "issuer_signing_keys",
        "firebase_private_key",
        "stripe_secret_key",
        "stripe_webhook_secret",
        "apple_api_key",
        "admin_token",
    ]
    assert "PHOENIX_USERDB_URL_FILE" in documented_variables(AuthSettings)
