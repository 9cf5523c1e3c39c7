"""Config's token settings: key life, the partitioning guard, pins, the double-spend store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from phoenix.config.directory import KeyPolicy
from phoenix.config.settings import ConfigSettings
from phoenix.settings import SettingsError, load

BASE = {"PHOENIX_ENV": "test", "PHOENIX_NODEDB_URL": "postgresql://db.example/nodes"}
KEY_ID = "ab" * 32


def settings(**variables: str) -> ConfigSettings:
    return load(ConfigSettings, {**BASE, **variables})


def test_a_keys_life_is_its_max_age_and_overlap_and_marks_follow_it_by_default() -> None:
    chosen = settings(PHOENIX_ISSUER_KEY_MAX_AGE="P7D", PHOENIX_ISSUER_KEY_OVERLAP_HOURS="24")
    assert chosen.key_life == timedelta(days=8)
    assert chosen.token_validity_seconds is None
    assert KeyPolicy.from_settings(chosen).life == 8 * 86_400


def test_the_double_spend_store_must_be_durable_in_production_only_unless_told() -> None:
    assert not settings().durable_redis_required
    assert settings(PHOENIX_REDIS_REQUIRE_DURABLE="true").durable_redis_required


def test_pinned_key_ids_become_the_policys_pins() -> None:
    pinned = KeyPolicy.from_settings(settings(PHOENIX_ISSUER_PINNED_KEY_IDS=KEY_ID)).pinned
    assert pinned == {bytes.fromhex(KEY_ID)}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PHOENIX_TOKEN_VALIDITY_SECONDS", "1209600"),  # 14 days: the old default
        ("PHOENIX_ISSUER_KEY_MAX_AGE", "PT30M"),
        ("PHOENIX_ISSUER_KEY_MAX_AGE", "P400D"),
        ("PHOENIX_ISSUER_KEY_OVERLAP_HOURS", "-1"),
        ("PHOENIX_ISSUER_MAX_KEYS", "0"),
        ("PHOENIX_ISSUER_DIRECTORY_MAX_STALE_REFRESHES", "0"),
        ("PHOENIX_ISSUER_PINNED_KEY_IDS", "deadbeef"),
        ("PHOENIX_ISSUER_PINNED_KEY_IDS", "AB" * 32),
        ("PHOENIX_REDIS_REPLICAS", "-1"),
        ("PHOENIX_REDIS_REPLICA_WAIT_MS", "0"),
    ],
)
def test_an_unsafe_or_malformed_token_setting_is_refused_naming_its_variable(
    variable: str, value: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        settings(**{variable: value})
    assert refused.value.variable == variable
