"""The issuer over HTTP, with real Firebase ID tokens (the Auth emulator) and the real Postgres.

Tokens come back verifiable by a plain RSASSA-PSS verifier (`cryptography`) with the public key
taken from the directory; every bad input is a 4xx problem, never a 5xx.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from phoenix.auth import users
from phoenix.auth.app import create_app
from phoenix.auth.settings import AuthSettings
from phoenix.crypto import batch
from phoenix.crypto.privacypass.issuance import build_token_request, finalize_token
from phoenix.crypto.privacypass.structures import NK, Token, TokenChallenge, TokenResponse
from phoenix.crypto.privacypass.token_key import TokenKey
from phoenix.settings import load
from tests.harness import issuer as issuer_keys
from tests.harness.firebase import EmulatorUser, FirebaseAuthEmulator, forge_token, token_claims

DIRECTORY = "/.well-known/private-token-issuer-directory"
TOKENS = "/v1/tokens"
SINGLE = {"content-type": "application/private-token-request"}
CHALLENGE = TokenChallenge(2, "auth.phoenix.test", b"", "config.phoenix.test")
QUOTA = 10


class Harness:
    def __init__(self, client: AsyncTestClient[Any], emulator: FirebaseAuthEmulator, url: str):
        self.client = client
        self.emulator = emulator
        self.userdb_url = url

    async def token_key(self) -> TokenKey:
        directory = (await self.client.get(DIRECTORY)).json()
        return TokenKey.from_base64url(directory["token-keys"][0]["token-key"])

    async def entitled_user(self) -> EmulatorUser:
        user = await asyncio.to_thread(self.emulator.sign_up)
        app = self.client.app
        async with app.state.userdb.begin() as connection:
            await users.upsert_user(connection, user.uid, user.email)
            await users.grant(connection, user.uid, 30, datetime.now(UTC))
        return user

    async def post(
        self, body: bytes, token: str | None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        sent = dict(headers or SINGLE)
        if token is not None:
            sent["authorization"] = f"Bearer {token}"
        return await self.client.post(TOKENS, content=body, headers=sent)


@pytest.fixture
async def harness(
    firebase_emulator: FirebaseAuthEmulator,
    migrated_database: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Harness]:
    url = await asyncio.to_thread(migrated_database, "userdb")
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", firebase_emulator.host)
    settings = load(
        AuthSettings,
        {
            "PHOENIX_ENV": "test",
            "PHOENIX_USERDB_URL": url,
            "PHOENIX_ISSUER_SIGNING_KEYS": issuer_keys.bundle(),
            "PHOENIX_FIREBASE_PROJECT_ID": "demo-phoenix",
            "PHOENIX_ISSUER_QUOTA": str(QUOTA),
        },
    )
    async with AsyncTestClient(create_app(settings), timeout=30) as client:
        yield Harness(client, firebase_emulator, url)


def plain_pss_verify(token: Token, key: TokenKey) -> None:
    key.public_key.verify(
        token.authenticator,
        token.authenticator_input(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48),
        hashes.SHA384(),
    )


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    return problem


async def test_the_directory_lists_type_2_keys_in_the_pss_encoding(harness: Harness) -> None:
    answer = await harness.client.get(DIRECTORY)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/private-token-issuer-directory"
    assert "max-age=" in answer.headers["cache-control"]
    document = answer.json()
    assert document["issuer-request-uri"] == TOKENS
    (entry,) = document["token-keys"]
    assert entry["token-type"] == 2
    assert isinstance(entry["not-before"], int)
    key = TokenKey.from_base64url(entry["token-key"])
    assert (
        key.public_key.public_numbers()
        == issuer_keys.private_keys(1)[0].public_key().public_numbers()
    )


async def test_the_directory_answers_304_to_its_etag(harness: Harness) -> None:
    first = await harness.client.get(DIRECTORY)
    again = await harness.client.get(DIRECTORY, headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


async def test_an_entitled_user_gets_a_token_that_verifies_with_the_directory_key(
    harness: Harness,
) -> None:
    user = await harness.entitled_user()
    key = await harness.token_key()
    request, state = build_token_request(CHALLENGE, key)
    answer = await harness.post(request.encode(), user.id_token)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/private-token-response"
    token = finalize_token(TokenResponse.decode(answer.content), state)
    plain_pss_verify(token, key)
    assert token.challenge_digest == CHALLENGE.digest()


async def test_a_batch_gives_every_token(harness: Harness) -> None:
    user = await harness.entitled_user()
    key = await harness.token_key()
    pairs = [build_token_request(CHALLENGE, key) for _ in range(5)]
    answer = await harness.post(
        batch.encode_batch_request([request for request, _ in pairs]),
        user.id_token,
        {"content-type": batch.REQUEST_MEDIA_TYPE},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == batch.RESPONSE_MEDIA_TYPE
    signatures = batch.decode_batch_response(answer.content)
    for signature, (_, state) in zip(signatures, pairs, strict=True):
        assert signature is not None
        plain_pss_verify(finalize_token(TokenResponse(signature), state), key)


async def test_another_content_type_is_415(harness: Harness) -> None:
    user = await harness.entitled_user()
    answer = await harness.post(b"{}", user.id_token, {"content-type": "application/json"})
    assert_problem(answer, 415)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda body: b"\x00\x01" + body[2:],  # token type 1 is not offered
        lambda body: body[:2] + bytes([body[2] ^ 0xFF]) + body[3:],  # unknown truncated key id
        lambda body: body[:-1],  # blinded_msg one byte short
        lambda body: body + b"\x00",  # one byte long
        lambda body: body[:3] + b"\xff" * NK,  # blinded_msg not below the modulus
    ],
    ids=["token-type", "key-id", "short", "long", "not-below-n"],
)
async def test_a_malformed_token_request_is_422(
    harness: Harness, mutate: Callable[[bytes], bytes]
) -> None:
    user = await harness.entitled_user()
    request, _ = build_token_request(CHALLENGE, await harness.token_key())
    assert_problem(await harness.post(mutate(request.encode()), user.id_token), 422)


async def _valid_body(harness: Harness) -> bytes:
    request, _ = build_token_request(CHALLENGE, await harness.token_key())
    return request.encode()


async def test_a_missing_or_malformed_authorization_is_401(harness: Harness) -> None:
    body = await _valid_body(harness)
    for headers in (
        SINGLE,
        {**SINGLE, "authorization": "Basic Zm9vOmJhcg=="},
        {**SINGLE, "authorization": "Bearer"},
    ):
        answer = await harness.client.post(TOKENS, content=body, headers=headers)
        assert_problem(answer, 401)
        assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_a_garbage_or_forged_id_token_is_401(harness: Harness) -> None:
    user = await harness.entitled_user()
    body = await _valid_body(harness)
    assert_problem(await harness.post(body, "not.a.jwt"), 401)
    assert_problem(
        await harness.post(
            body, forge_token(user.id_token, sub="someone-else", user_id="someone-else")
        ),
        401,
    )
    assert_problem(await harness.post(body, forge_token(user.id_token, aud="another-project")), 401)


async def test_an_expired_id_token_is_401(harness: Harness) -> None:
    user = await harness.entitled_user()
    claims = token_claims(user.id_token)
    expired = forge_token(user.id_token, exp=claims["iat"] - 1)
    assert_problem(await harness.post(await _valid_body(harness), expired), 401)


async def test_a_disabled_users_token_is_401(harness: Harness) -> None:
    user = await harness.entitled_user()
    await asyncio.to_thread(harness.emulator.disable_user, user.uid)
    assert_problem(await harness.post(await _valid_body(harness), user.id_token), 401)


async def test_a_revoked_token_is_401(harness: Harness) -> None:
    user = await harness.entitled_user()
    await asyncio.sleep(1.1)  # revocation compares whole seconds
    await asyncio.to_thread(harness.emulator.revoke_refresh_tokens, user.uid)
    assert_problem(await harness.post(await _valid_body(harness), user.id_token), 401)


async def test_a_user_without_entitlement_is_403(harness: Harness) -> None:
    user = await asyncio.to_thread(harness.emulator.sign_up)
    assert_problem(await harness.post(await _valid_body(harness), user.id_token), 403)


async def test_a_spent_quota_is_429_with_retry_after(harness: Harness) -> None:
    user = await harness.entitled_user()
    key = await harness.token_key()
    pairs = [build_token_request(CHALLENGE, key) for _ in range(QUOTA)]
    full = await harness.post(
        batch.encode_batch_request([r for r, _ in pairs]),
        user.id_token,
        {"content-type": batch.REQUEST_MEDIA_TYPE},
    )
    assert full.status_code == 200
    refused = await harness.post(await _valid_body(harness), user.id_token)
    assert_problem(refused, 429)
    assert 0 < int(refused.headers["retry-after"]) <= 24 * 3600


async def test_concurrent_requests_at_the_quota_edge_issue_exactly_the_quota(
    harness: Harness,
) -> None:
    user = await harness.entitled_user()
    body = await _valid_body(harness)
    answers = await asyncio.gather(*(harness.post(body, user.id_token) for _ in range(20)))
    assert sorted(a.status_code for a in answers) == [200] * QUOTA + [429] * (20 - QUOTA)


async def test_an_oversize_body_is_413(harness: Harness) -> None:
    user = await harness.entitled_user()
    answer = await harness.post(
        b"\x00" * 100_000, user.id_token, {"content-type": batch.REQUEST_MEDIA_TYPE}
    )
    assert_problem(answer, 413)


async def test_the_userdb_keeps_nothing_that_links_a_token_to_its_user(harness: Harness) -> None:
    user = await harness.entitled_user()
    key = await harness.token_key()
    request, state = build_token_request(CHALLENGE, key)
    answer = await harness.post(request.encode(), user.id_token)
    token = finalize_token(TokenResponse.decode(answer.content), state)
    secrets = [
        request.blinded_msg,
        answer.content,
        token.encode(),
        token.nonce,
        token.authenticator,
    ]
    forms = {form for s in secrets for form in _forms(s)}

    engine = harness.client.app.state.userdb
    async with engine.connect() as connection:
        columns = (
            await connection.execute(
                text(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public'"
                )
            )
        ).all()
        tables: dict[str, list[str]] = {}
        for table, column in columns:
            tables.setdefault(table, []).append(column)
        # A new table must be added here knowingly, after checking it cannot link a token.
        assert set(tables) == {
            "alembic_version",
            "users",
            "entitlements",
            "issuance_quota",
            "stripe_subscriptions",
            "stripe_invoices",
            "apple_subscriptions",
            "apple_transactions",
            "processed_webhooks",
            "billing_reconciliations",  # a provider name and two times: no user, no token
        }
        for table, names in tables.items():
            rows = (await connection.execute(text(f'SELECT * FROM "{table}"'))).all()  # noqa: S608
            for row in rows:
                for value in row:
                    rendered = value if isinstance(value, bytes) else str(value).encode()
                    assert not any(form in rendered for form in forms), (table, names)
        quota_columns = set(tables["issuance_quota"])
    assert quota_columns == {"uid", "hour", "counts"}


def _forms(data: bytes) -> list[bytes]:
    return [
        data[:16],
        data.hex().encode()[:32],
        base64.b64encode(data)[:24],
        base64.urlsafe_b64encode(data)[:24],
    ]


async def test_an_upcoming_key_is_listed_but_does_not_sign(
    firebase_emulator: FirebaseAuthEmulator,
    migrated_database: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = await asyncio.to_thread(migrated_database, "userdb")
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", firebase_emulator.host)
    now = datetime.now(UTC)
    settings = load(
        AuthSettings,
        {
            "PHOENIX_ENV": "test",
            "PHOENIX_USERDB_URL": url,
            "PHOENIX_ISSUER_SIGNING_KEYS": issuer_keys.bundle(
                now - timedelta(days=1), now + timedelta(days=1)
            ),
            "PHOENIX_FIREBASE_PROJECT_ID": "demo-phoenix",
        },
    )
    async with AsyncTestClient(create_app(settings), timeout=30) as client:
        harness = Harness(client, firebase_emulator, url)
        keys = [
            TokenKey.from_base64url(entry["token-key"])
            for entry in (await client.get(DIRECTORY)).json()["token-keys"]
        ]
        assert len(keys) == 2
        user = await harness.entitled_user()
        current, upcoming = keys
        good, state = build_token_request(CHALLENGE, current)
        answer = await harness.post(good.encode(), user.id_token)
        plain_pss_verify(finalize_token(TokenResponse.decode(answer.content), state), current)
        early, _ = build_token_request(CHALLENGE, upcoming)
        assert_problem(await harness.post(early.encode(), user.id_token), 422)


async def test_a_key_past_its_signing_life_does_not_sign_and_the_issuer_is_not_ready(
    firebase_emulator: FirebaseAuthEmulator,
    migrated_database: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 20: one key signed forever. Now a key signs for PHOENIX_ISSUER_KEY_MAX_AGE only.
    url = await asyncio.to_thread(migrated_database, "userdb")
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", firebase_emulator.host)
    settings = load(
        AuthSettings,
        {
            "PHOENIX_ENV": "test",
            "PHOENIX_USERDB_URL": url,
            "PHOENIX_ISSUER_SIGNING_KEYS": issuer_keys.bundle(issuer_keys.days_ago(31)),
            "PHOENIX_FIREBASE_PROJECT_ID": "demo-phoenix",
        },
    )
    app = create_app(settings)
    async with AsyncTestClient(app, timeout=30) as client:
        harness = Harness(client, firebase_emulator, url)
        # Still listed for the overlap, so tokens signed on its last day redeem at config.
        (entry,) = (await client.get(DIRECTORY)).json()["token-keys"]
        key = TokenKey.from_base64url(entry["token-key"])
        user = await harness.entitled_user()
        request, _ = build_token_request(CHALLENGE, key)
        problem = assert_problem(await harness.post(request.encode(), user.id_token), 503)
        assert problem["type"].endswith("/issuer-key-expired")
        with pytest.raises(Exception, match="PHOENIX_ISSUER_KEY_MAX_AGE"):
            await app.state.issuer.probe()
