"""Firebase cost is bounded: what reaches the (real) Auth emulator, counted by a real proxy.

A counting reverse proxy (firebase_counting_proxy.py) stands between firebase-admin and the
emulator, so every Identity Toolkit call is seen, whether made by a running auth role or by a
verifier built here with a clock the test moves.

What the emulator can show: that no request without a locally valid token reaches Firebase (no
header, another scheme, garbage, a token for another project or issuer, an expired token), that a
good token costs one user lookup per uid per cache period however many requests it makes, and
that a disabled, revoked or deleted account is refused once the cached answer is a minute old.
What it cannot show: signatures. In emulator mode firebase-admin checks no signature (the
emulator's tokens are unsigned, see test_firebase_emulator.py), so "a forged signature never
reaches the lookup" is not tested here; in production mode the SDK checks the signature before
returning claims (and fetches Google's certificates only through its own Cache-Control cache),
and the verifier looks a user up only with the claims it returned.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from phoenix.auth.firebase import FirebaseVerifier, IdentityUnavailable, Unauthenticated
from phoenix.auth.settings import AuthSettings
from phoenix.dev.emulator import DEFAULT_PROJECT
from phoenix.migrations import upgrade
from phoenix.settings import load
from tests.conftest import _database_url, drop_database
from tests.harness import issuer as issuer_keys
from tests.harness.firebase import FirebaseAuthEmulator, forge_token, token_claims
from tests.harness.processes import RoleServer
from tests.integration.auth.firebase_counting_proxy import CountingProxy

pytestmark = pytest.mark.slow

OTHER_PROJECT = "demo-other"


@pytest.fixture(scope="module")
def proxy(firebase_emulator: FirebaseAuthEmulator) -> Iterator[CountingProxy]:
    counting = CountingProxy(firebase_emulator.base_url).start()
    yield counting
    counting.stop()


@pytest.fixture
def counted(proxy: CountingProxy) -> CountingProxy:
    proxy.reset()
    return proxy


def _env(proxy: CountingProxy, userdb_url: str) -> dict[str, str]:
    return {
        "FIREBASE_AUTH_EMULATOR_HOST": proxy.host,  # firebase-admin reaches Firebase only here
        "PHOENIX_ENV": "test",
        "PHOENIX_USERDB_URL": userdb_url,
        "PHOENIX_ISSUER_SIGNING_KEYS": issuer_keys.bundle(),
        "PHOENIX_FIREBASE_PROJECT_ID": DEFAULT_PROJECT,
    }


@pytest.fixture(scope="module")
async def auth_role(
    postgres_url: str, proxy: CountingProxy, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    name = f"phoenix_test_firebase_cost_{uuid.uuid4().hex[:10]}"
    url = _database_url(postgres_url, name)
    await asyncio.to_thread(upgrade, "userdb", url)
    log_path = tmp_path_factory.mktemp("auth-firebase-cost") / "auth.log"
    server = await asyncio.to_thread(RoleServer("auth", _env(proxy, url), log_path).start)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            yield http
    finally:
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(drop_database, postgres_url, name)


class Clock:
    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(
    counted: CountingProxy, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FirebaseVerifier]:
    env = _env(counted, "postgresql://postgres@127.0.0.1/unused")
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", counted.host)
    built = FirebaseVerifier(load(AuthSettings, env), clock=clock)
    yield built
    built.close()


def _wait_past_second(epoch_second: int) -> None:
    """Revocation compares whole seconds: a token is revoked only if issued strictly before."""
    while time.time() < epoch_second + 1:
        time.sleep(0.05)


def _without(token: str, claim: str) -> str:
    """The same unsigned token without one payload claim."""
    header, _, signature = token.split(".")
    claims = {key: value for key, value in token_claims(token).items() if key != claim}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def _refused_credentials(emulator: FirebaseAuthEmulator) -> dict[str, str | None]:
    """Authorization headers that must be refused without a word to Firebase."""
    token = emulator.sign_up().id_token
    other = f"https://securetoken.google.com/{OTHER_PROJECT}"
    return {
        "none": None,
        "basic": "Basic dXNlcjpwYXNz",
        "garbage": "Bearer not-a-token",
        "not-json": "Bearer a.b.c",
        "other-project": "Bearer " + forge_token(token, aud=OTHER_PROJECT, iss=other),
        "other-issuer": "Bearer " + forge_token(token, iss="https://evil.example/x"),
        "no-subject": "Bearer " + _without(_without(token, "sub"), "user_id"),
        "expired": "Bearer " + forge_token(token, exp=int(time.time()) - 60),
        "no-issued-at": "Bearer " + _without(token, "iat"),
    }


async def test_requests_without_a_locally_valid_token_never_reach_firebase(
    auth_role: httpx.AsyncClient, firebase_emulator: FirebaseAuthEmulator, counted: CountingProxy
) -> None:
    refused = await asyncio.to_thread(_refused_credentials, firebase_emulator)

    for case, authorization in refused.items():
        headers = {"authorization": authorization} if authorization else {}
        for answer in (
            await auth_role.get("/v1/account", headers=headers),
            await auth_role.post(
                "/v1/tokens",
                content=b"",
                headers={**headers, "content-type": "application/private-token-request"},
            ),
        ):
            assert answer.status_code == 401, (case, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")

    assert counted.paths == []  # not one lookup, and nothing else either


async def test_fifty_requests_with_one_good_token_make_one_lookup(
    auth_role: httpx.AsyncClient, firebase_emulator: FirebaseAuthEmulator, counted: CountingProxy
) -> None:
    user = await asyncio.to_thread(firebase_emulator.sign_up)
    headers = {"authorization": f"Bearer {user.id_token}"}

    answers = []
    for _ in range(5):  # ten at a time: concurrent requests share one lookup too
        answers += await asyncio.gather(
            *(auth_role.get("/v1/account", headers=headers) for _ in range(10))
        )

    assert [answer.status_code for answer in answers] == [200] * 50
    assert {answer.json()["uid"] for answer in answers} == {user.uid}
    assert counted.lookups() == 1
    assert len(counted.paths) == 1


async def test_a_disabled_account_is_refused_once_the_cached_answer_is_a_minute_old(
    verifier: FirebaseVerifier,
    firebase_emulator: FirebaseAuthEmulator,
    counted: CountingProxy,
    clock: Clock,
) -> None:
    user = await asyncio.to_thread(firebase_emulator.sign_up)
    assert (await verifier.verify(user.id_token)).uid == user.uid

    await asyncio.to_thread(firebase_emulator.disable_user, user.uid)
    clock.now += 59  # inside the window the cached answer stands (the documented bound)
    assert (await verifier.verify(user.id_token)).uid == user.uid
    assert counted.lookups() == 1

    clock.now += 1
    with pytest.raises(Unauthenticated, match="disabled"):
        await verifier.verify(user.id_token)
    assert counted.lookups() == 2
    # The refusal is cached as well: a disabled account's retries cost nothing more.
    for _ in range(10):
        with pytest.raises(Unauthenticated, match="disabled"):
            await verifier.verify(user.id_token)
    assert counted.lookups() == 2


async def test_revoked_tokens_are_refused_once_the_cached_answer_is_a_minute_old(
    verifier: FirebaseVerifier,
    firebase_emulator: FirebaseAuthEmulator,
    counted: CountingProxy,
    clock: Clock,
) -> None:
    user = await asyncio.to_thread(firebase_emulator.sign_up)
    assert (await verifier.verify(user.id_token)).uid == user.uid
    await asyncio.to_thread(_wait_past_second, token_claims(user.id_token)["iat"])

    await asyncio.to_thread(firebase_emulator.revoke_refresh_tokens, user.uid)
    assert (await verifier.verify(user.id_token)).uid == user.uid  # cached, not yet seen
    clock.now += 60

    with pytest.raises(Unauthenticated, match="revoked"):
        await verifier.verify(user.id_token)
    # A token from signing in again is issued after the revocation: it passes on the same answer.
    fresh = await asyncio.to_thread(firebase_emulator.sign_in, user.email, user.password)
    assert (await verifier.verify(fresh.id_token)).uid == user.uid
    assert counted.lookups() == 2


async def test_a_deleted_account_is_refused_at_once_when_deleted_here_and_in_a_minute_otherwise(
    verifier: FirebaseVerifier,
    firebase_emulator: FirebaseAuthEmulator,
    counted: CountingProxy,
    clock: Clock,
) -> None:
    here = await asyncio.to_thread(firebase_emulator.sign_up)
    elsewhere = await asyncio.to_thread(firebase_emulator.sign_up)
    for user in (here, elsewhere):
        await verifier.verify(user.id_token)

    await verifier.delete_user(here.uid)
    await asyncio.to_thread(firebase_emulator.delete_user, elsewhere.uid)

    with pytest.raises(Unauthenticated, match="does not exist"):
        await verifier.verify(here.id_token)
    assert (await verifier.verify(elsewhere.id_token)).uid == elsewhere.uid
    clock.now += 60
    with pytest.raises(Unauthenticated, match="does not exist"):
        await verifier.verify(elsewhere.id_token)
    assert counted.lookups() == 3


async def test_an_unreachable_firebase_is_asked_six_times_a_minute_per_uid_then_retry_after(
    verifier: FirebaseVerifier,
    firebase_emulator: FirebaseAuthEmulator,
    counted: CountingProxy,
    clock: Clock,
) -> None:
    user = await asyncio.to_thread(firebase_emulator.sign_up)
    counted.failing = True

    for _ in range(6):
        with pytest.raises(IdentityUnavailable, match="could not check"):
            await verifier.verify(user.id_token)
        clock.now += 5
    with pytest.raises(IdentityUnavailable, match="too many") as spent:
        await verifier.verify(user.id_token)

    assert spent.value.headers == {"Retry-After": "30"}  # the first failure leaves at 60 s
    failed_lookups = counted.lookups()
    counted.failing = False
    clock.now += 30
    assert (await verifier.verify(user.id_token)).uid == user.uid
    assert counted.lookups() == failed_lookups + 1
