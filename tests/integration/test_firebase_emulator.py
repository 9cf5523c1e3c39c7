"""The Firebase Auth emulator harness against the real firebase-admin SDK.

Real ID tokens from the emulator's REST API, verified by ``auth.verify_id_token(...,
check_revoked=True)`` exactly as the issuer will; disabling, revoking and deleting users through the
emulator's admin API. Each test signs up its own users (unique emails).

In emulator mode firebase-admin checks neither the signature nor the expiry of a token (the
emulator's tokens are unsigned); ``test_emulator_mode_checks_no_signature_or_expiry`` pins that
down, so that nobody mistakes an emulator test for a signature test.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator

import firebase_admin
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from firebase_admin import auth, credentials

from phoenix.dev.emulator import DEFAULT_PROJECT
from tests.harness.firebase import EmulatorError, FirebaseAuthEmulator, forge_token, token_claims

pytestmark = pytest.mark.slow

OTHER_PROJECT = "demo-other"


@pytest.fixture(scope="module")
def emulator_env(firebase_emulator: FirebaseAuthEmulator) -> Iterator[FirebaseAuthEmulator]:
    """FIREBASE_AUTH_EMULATOR_HOST set for this module's tests (firebase-admin reads it at call
    time, and when an app's auth client is first built)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIREBASE_AUTH_EMULATOR_HOST", firebase_emulator.host)
        yield firebase_emulator


def _named_app(project_id: str) -> firebase_admin.App:
    # A named app, never the global default one; no credential is needed for the emulator (the
    # auth client then uses firebase-admin's EmulatorAdminCredentials, and the default
    # ApplicationDefault credential is lazy, so it is never looked up).
    return firebase_admin.initialize_app(
        options={"projectId": project_id}, name=f"phoenix-test-{uuid.uuid4().hex}"
    )


@pytest.fixture(scope="module")
def app(emulator_env: FirebaseAuthEmulator) -> Iterator[firebase_admin.App]:
    app = _named_app(DEFAULT_PROJECT)
    yield app
    firebase_admin.delete_app(app)


@pytest.fixture(scope="module")
def other_project_app(emulator_env: FirebaseAuthEmulator) -> Iterator[firebase_admin.App]:
    app = _named_app(OTHER_PROJECT)
    yield app
    firebase_admin.delete_app(app)


def _wait_past_second(epoch_second: int) -> None:
    """Revocation compares whole seconds: ``iat * 1000 < tokensValidAfterTime`` (ms)."""
    while time.time() < epoch_second + 1:
        time.sleep(0.05)


def test_fresh_user_token_verifies(
    firebase_emulator: FirebaseAuthEmulator, app: firebase_admin.App
) -> None:
    user = firebase_emulator.sign_up()

    claims = auth.verify_id_token(user.id_token, app=app, check_revoked=True)

    assert claims["uid"] == user.uid
    assert claims["email"] == user.email
    assert claims["aud"] == DEFAULT_PROJECT
    assert claims["iss"] == f"https://securetoken.google.com/{DEFAULT_PROJECT}"
    assert claims["firebase"]["sign_in_provider"] == "password"
    assert auth.get_user(user.uid, app=app).email == user.email


def test_sign_in_and_refresh_give_tokens_for_the_same_user(
    firebase_emulator: FirebaseAuthEmulator, app: firebase_admin.App
) -> None:
    user = firebase_emulator.sign_up()

    signed_in = firebase_emulator.sign_in(user.email, user.password)
    refreshed_token, _ = firebase_emulator.refresh(signed_in.refresh_token)

    assert signed_in.uid == user.uid
    for token in (signed_in.id_token, refreshed_token):
        assert auth.verify_id_token(token, app=app, check_revoked=True)["uid"] == user.uid
    with pytest.raises(EmulatorError, match=r"INVALID_LOGIN_CREDENTIALS|INVALID_PASSWORD"):
        firebase_emulator.sign_in(user.email, user.password + "-wrong")


def test_disabled_user_is_refused(
    firebase_emulator: FirebaseAuthEmulator, app: firebase_admin.App
) -> None:
    user = firebase_emulator.sign_up()

    firebase_emulator.disable_user(user.uid)

    assert firebase_emulator.get_user(user.uid)["disabled"] is True
    with pytest.raises(auth.UserDisabledError):
        auth.verify_id_token(user.id_token, app=app, check_revoked=True)
    with pytest.raises(EmulatorError, match="USER_DISABLED"):
        firebase_emulator.sign_in(user.email, user.password)

    firebase_emulator.disable_user(user.uid, disabled=False)
    assert auth.verify_id_token(user.id_token, app=app, check_revoked=True)["uid"] == user.uid


def test_revoked_tokens_are_refused(
    firebase_emulator: FirebaseAuthEmulator, app: firebase_admin.App
) -> None:
    user = firebase_emulator.sign_up()
    _wait_past_second(token_claims(user.id_token)["iat"])

    valid_since = firebase_emulator.revoke_refresh_tokens(user.uid)

    assert auth.get_user(user.uid, app=app).tokens_valid_after_timestamp == valid_since * 1000
    with pytest.raises(auth.RevokedIdTokenError):
        auth.verify_id_token(user.id_token, app=app, check_revoked=True)
    # Only check_revoked=True sees a revocation.
    assert auth.verify_id_token(user.id_token, app=app)["uid"] == user.uid
    # Signing in again gives a token issued at or after the revocation, which passes.
    fresh = firebase_emulator.sign_in(user.email, user.password)
    assert auth.verify_id_token(fresh.id_token, app=app, check_revoked=True)["uid"] == user.uid


def test_revocation_through_the_admin_sdk_is_seen_too(
    firebase_emulator: FirebaseAuthEmulator, app: firebase_admin.App
) -> None:
    user = firebase_emulator.sign_up()
    _wait_past_second(token_claims(user.id_token)["iat"])

    auth.revoke_refresh_tokens(user.uid, app=app)

    assert (
        int(firebase_emulator.get_user(user.uid)["validSince"]) > token_claims(user.id_token)["iat"]
    )
    with pytest.raises(auth.RevokedIdTokenError):
        auth.verify_id_token(user.id_token, app=app, check_revoked=True)


def test_deleted_user_is_refused(
    firebase_emulator: FirebaseAuthEmulator, app: firebase_admin.App
) -> None:
    user = firebase_emulator.sign_up()

    firebase_emulator.delete_user(user.uid)

    with pytest.raises(auth.UserNotFoundError):
        auth.verify_id_token(user.id_token, app=app, check_revoked=True)
    with pytest.raises(EmulatorError, match="USER_NOT_FOUND"):
        firebase_emulator.get_user(user.uid)


def test_forged_tokens_are_refused(
    firebase_emulator: FirebaseAuthEmulator, app: firebase_admin.App
) -> None:
    user = firebase_emulator.sign_up()
    nobody = "forged" + uuid.uuid4().hex

    forged_user = forge_token(user.id_token, sub=nobody, user_id=nobody)
    forged_project = forge_token(user.id_token, aud=OTHER_PROJECT)
    forged_issuer = forge_token(user.id_token, iss="https://securetoken.google.com/evil")

    with pytest.raises(auth.UserNotFoundError):
        auth.verify_id_token(forged_user, app=app, check_revoked=True)
    for token in (forged_project, forged_issuer):
        with pytest.raises(auth.InvalidIdTokenError):
            auth.verify_id_token(token, app=app, check_revoked=True)
    for garbage in ("not-a-jwt", user.id_token[:-1] + "." + "x", "a.b.c"):
        with pytest.raises((auth.InvalidIdTokenError, ValueError)):
            auth.verify_id_token(garbage, app=app, check_revoked=True)


def _throwaway_service_account(project_id: str) -> credentials.Certificate:
    """A service-account credential of the production shape (its key is never used here)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return credentials.Certificate(
        {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": uuid.uuid4().hex,
            "private_key": pem,
            "client_email": f"firebase-adminsdk@{project_id}.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )


def test_production_mode_refuses_emulator_tokens(
    firebase_emulator: FirebaseAuthEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without FIREBASE_AUTH_EMULATOR_HOST the SDK demands a signed RS256 token with a ``kid``:
    an emulator token (``alg: none``) is refused before any key is fetched (no network)."""
    user = firebase_emulator.sign_up()
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)
    production_app = firebase_admin.initialize_app(
        _throwaway_service_account(DEFAULT_PROJECT), name=f"phoenix-test-{uuid.uuid4().hex}"
    )
    try:
        with pytest.raises(auth.InvalidIdTokenError, match="kid"):
            auth.verify_id_token(user.id_token, app=production_app)
    finally:
        firebase_admin.delete_app(production_app)


def test_token_for_another_project_is_refused(
    firebase_emulator: FirebaseAuthEmulator,
    app: firebase_admin.App,
    other_project_app: firebase_admin.App,
) -> None:
    user = firebase_emulator.sign_up()

    with pytest.raises(auth.InvalidIdTokenError, match="aud"):
        auth.verify_id_token(user.id_token, app=other_project_app, check_revoked=True)
    other_project_token = forge_token(
        user.id_token, aud=OTHER_PROJECT, iss=f"https://securetoken.google.com/{OTHER_PROJECT}"
    )
    assert auth.verify_id_token(other_project_token, app=other_project_app)["uid"] == user.uid
    with pytest.raises(auth.InvalidIdTokenError, match="aud"):
        auth.verify_id_token(other_project_token, app=app, check_revoked=True)


def test_emulator_mode_checks_no_signature_or_expiry(
    firebase_emulator: FirebaseAuthEmulator, app: firebase_admin.App
) -> None:
    """A limit of the harness, not a property of the app: in emulator mode a payload naming
    another real user, or an expired one, still verifies. Forged signatures and expiry must be
    tested against a verifier that checks signatures, never against the emulator."""
    victim = firebase_emulator.sign_up()
    attacker = firebase_emulator.sign_up()

    impersonation = forge_token(attacker.id_token, sub=victim.uid, user_id=victim.uid)
    # (iat stays: one before the user's tokensValidAfterTime would be caught as revoked)
    expired = forge_token(attacker.id_token, exp=int(time.time()) - 3600)

    assert auth.verify_id_token(impersonation, app=app, check_revoked=True)["uid"] == victim.uid
    assert auth.verify_id_token(expired, app=app, check_revoked=True)["uid"] == attacker.uid


def test_a_second_emulator_runs_alongside_and_stops_without_leftovers(
    firebase_emulator: FirebaseAuthEmulator,
) -> None:
    with FirebaseAuthEmulator(project_id=OTHER_PROJECT) as second:
        assert second.port != firebase_emulator.port
        assert second.process is not None
        group = second.process.pid
        user = second.sign_up()
        assert token_claims(user.id_token)["aud"] == OTHER_PROJECT
        assert second.startup_seconds is not None

    assert second.process is None
    with pytest.raises(ProcessLookupError):
        os.killpg(group, signal.SIGCONT)  # nothing is left in its process group
    # The session's emulator is untouched.
    assert firebase_emulator.sign_up().uid
