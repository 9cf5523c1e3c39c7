"""What the verifier takes from a token the (real) Auth emulator issued: its uid, and its email
claim only when that can be an address (users.email holds RFC 5321's longest, 320 characters)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from phoenix.auth.firebase import MAX_EMAIL_CHARS, FirebaseVerifier
from phoenix.auth.settings import AuthSettings
from phoenix.dev.emulator import DEFAULT_PROJECT
from phoenix.settings import load
from tests.harness import issuer as issuer_keys
from tests.harness.firebase import FirebaseAuthEmulator, forge_token

pytestmark = pytest.mark.slow


@pytest.fixture
def verifier(
    firebase_emulator: FirebaseAuthEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FirebaseVerifier]:
    for name, value in firebase_emulator.env.items():
        monkeypatch.setenv(name, value)
    env = {
        "PHOENIX_ENV": "test",
        "PHOENIX_USERDB_URL": "postgresql://postgres@127.0.0.1/unused",
        "PHOENIX_ISSUER_SIGNING_KEYS": issuer_keys.bundle(),
        "PHOENIX_FIREBASE_PROJECT_ID": DEFAULT_PROJECT,
    }
    built = FirebaseVerifier(load(AuthSettings, env))
    yield built
    built.close()


async def test_the_email_claim_is_the_identity_s_email(
    firebase_emulator: FirebaseAuthEmulator, verifier: FirebaseVerifier
) -> None:
    email = firebase_emulator.unique_email()
    user = firebase_emulator.sign_up(email)
    identity = await verifier.verify(user.id_token)
    assert (identity.uid, identity.email) == (user.uid, email)


@pytest.mark.parametrize("chars", [MAX_EMAIL_CHARS, MAX_EMAIL_CHARS + 1, 10_000])
async def test_an_email_claim_longer_than_an_address_can_be_is_not_kept(
    firebase_emulator: FirebaseAuthEmulator, verifier: FirebaseVerifier, chars: int
) -> None:
    user = firebase_emulator.sign_up()
    claim = "a" * (chars - len("@example.com")) + "@example.com"
    identity = await verifier.verify(forge_token(user.id_token, email=claim))
    assert identity.uid == user.uid  # still the user: the token is good
    assert identity.email == (claim if chars <= MAX_EMAIL_CHARS else None)
