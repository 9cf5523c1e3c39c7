"""The revocation cache's settings cannot stretch the revocation window past 60 s."""

from __future__ import annotations

import pytest

from phoenix.auth.settings import AuthSettings
from phoenix.settings import SettingsError, load
from tests.harness import issuer

BASE = {
    "PHOENIX_USERDB_URL": "postgresql://postgres@127.0.0.1/phoenix_users",
    "PHOENIX_FIREBASE_PROJECT_ID": "demo-phoenix",
    "PHOENIX_ENV": "test",
}


@pytest.fixture(autouse=True)
def emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")


def test_by_default_an_answer_lives_a_minute_and_a_uid_gets_six_lookups_a_minute() -> None:
    settings = load(AuthSettings, {**BASE, "PHOENIX_ISSUER_SIGNING_KEYS": issuer.bundle()})
    assert settings.firebase_revocation_cache_seconds == 60
    assert settings.firebase_revocation_lookups_per_minute == 6


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PHOENIX_FIREBASE_REVOCATION_CACHE_SECONDS", "0"),
        ("PHOENIX_FIREBASE_REVOCATION_CACHE_SECONDS", "61"),
        ("PHOENIX_FIREBASE_REVOCATION_CACHE_SECONDS", "3600"),
        ("PHOENIX_FIREBASE_REVOCATION_LOOKUPS_PER_MINUTE", "0"),
        ("PHOENIX_FIREBASE_REVOCATION_LOOKUPS_PER_MINUTE", "61"),
    ],
)
def test_a_value_outside_the_bounds_names_the_variable(variable: str, value: str) -> None:
    env = {**BASE, "PHOENIX_ISSUER_SIGNING_KEYS": issuer.bundle(), variable: value}
    with pytest.raises(SettingsError) as error:
        load(AuthSettings, env)
    assert error.value.variable == variable
