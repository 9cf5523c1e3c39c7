"""The auth role's settings refuse what would weaken the issuer, naming the variable to fix."""

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


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")


@pytest.mark.usefixtures("emulator")
def test_a_valid_bundle_loads() -> None:
    settings = load(AuthSettings, {**BASE, "PHOENIX_ISSUER_SIGNING_KEYS": issuer.bundle()})
    assert settings.issuer_quota == 200


@pytest.mark.usefixtures("emulator")
def test_the_emulator_is_refused_in_production() -> None:
    env = {**BASE, "PHOENIX_ENV": "prod", "PHOENIX_ISSUER_SIGNING_KEYS": issuer.bundle()}
    with pytest.raises(SettingsError) as error:
        load(AuthSettings, env)
    assert error.value.variable == "FIREBASE_AUTH_EMULATOR_HOST"


def test_production_needs_a_service_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)
    with pytest.raises(SettingsError) as error:
        load(AuthSettings, {**BASE, "PHOENIX_ISSUER_SIGNING_KEYS": issuer.bundle()})
    assert error.value.variable == "PHOENIX_FIREBASE_PRIVATE_KEY"


@pytest.mark.usefixtures("emulator")
@pytest.mark.parametrize(
    "bundle",
    [
        "",
        "not a key",
        issuer.bundle().replace("Not-Before:", "Valid-From:"),
        issuer.bundle(issuer.LONG_AGO).replace("2020-01-01T00:00:00Z", "yesterday"),
        issuer.bundle(issuer.LONG_AGO).replace("2020-01-01T00:00:00Z", "2020-01-01T00:00:00"),
    ],
    ids=["empty", "garbage", "no-not-before", "bad-time", "naive-time"],
)
def test_a_bad_key_bundle_names_the_variable(bundle: str) -> None:
    with pytest.raises(SettingsError) as error:
        load(AuthSettings, {**BASE, "PHOENIX_ISSUER_SIGNING_KEYS": bundle})
    assert error.value.variable == "PHOENIX_ISSUER_SIGNING_KEYS"


@pytest.mark.usefixtures("emulator")
def test_two_keys_with_one_truncated_id_are_refused() -> None:
    twice = issuer.bundle() + issuer.bundle()
    with pytest.raises(SettingsError) as error:
        load(AuthSettings, {**BASE, "PHOENIX_ISSUER_SIGNING_KEYS": twice})
    assert "truncated key id" in error.value.problem


APPLE = {"PHOENIX_APPLE_ROOT_CERTIFICATES": "-----BEGIN CERTIFICATE-----"}


def production() -> dict[str, str]:
    """A production auth role's settings that load (outside the emulator)."""
    return {
        **BASE,
        "PHOENIX_ENV": "prod",
        "PHOENIX_FIREBASE_PRIVATE_KEY": '{"project_id": "p"}',
        "PHOENIX_ISSUER_SIGNING_KEYS": issuer.bundle(),
    }


@pytest.mark.usefixtures("emulator")
@pytest.mark.parametrize(
    ("extra", "variable"),
    [
        ({"PHOENIX_APPLE_ENVIRONMENT": "LocalTesting"}, "PHOENIX_APPLE_ENVIRONMENT"),
        ({"PHOENIX_APPLE_ENVIRONMENT": "Xcode"}, "PHOENIX_APPLE_ENVIRONMENT"),
        (APPLE, "PHOENIX_APPLE_BUNDLE_ID"),
        ({**APPLE, "PHOENIX_APPLE_BUNDLE_ID": "com.phoenix.vpn"}, "PHOENIX_APPLE_APP_ID"),
        ({"PHOENIX_STRIPE_GRACE_DAYS": "90"}, "PHOENIX_STRIPE_GRACE_DAYS"),
    ],
)
def test_apple_and_stripe_settings_that_would_skip_checks_are_refused(
    extra: dict[str, str], variable: str
) -> None:
    env = {**BASE, "PHOENIX_ISSUER_SIGNING_KEYS": issuer.bundle(), **extra}
    with pytest.raises(SettingsError) as error:
        load(AuthSettings, env)
    assert error.value.variable == variable


def test_apple_revocation_checks_cannot_be_off_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)
    env = {
        **production(),
        **APPLE,
        "PHOENIX_APPLE_BUNDLE_ID": "com.phoenix.vpn",
        "PHOENIX_APPLE_APP_ID": "1234567890",
        "PHOENIX_APPLE_ONLINE_CHECKS": "false",
    }
    with pytest.raises(SettingsError) as error:
        load(AuthSettings, env)
    assert error.value.variable == "PHOENIX_APPLE_ONLINE_CHECKS"


@pytest.mark.parametrize("variable", ["PHOENIX_STRIPE_API_BASE", "PHOENIX_APPLE_API_BASE"])
def test_a_stub_s_address_is_refused_in_production(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """It would receive Stripe's secret key, or a token signed with the in-app purchase key."""
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)
    env = {**production(), variable: "http://127.0.0.1:12111"}
    with pytest.raises(SettingsError) as error:
        load(AuthSettings, env)
    assert error.value.variable == variable
