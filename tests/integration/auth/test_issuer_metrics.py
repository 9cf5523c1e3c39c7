"""What the issuer tells Prometheus: tokens signed, requests refused and why, its key's dates,
and its build — aggregates only (no uid or email in any label), in an exposition promtool takes.

Real Firebase ID tokens (the Auth emulator) and the real Postgres, as the issuer's HTTP tests.
"""

from __future__ import annotations

import asyncio
import time

from phoenix.auth.app import watch_signing_key
from phoenix.crypto import batch
from phoenix.crypto.blind_rsa import default_backend
from phoenix.crypto.privacypass.issuance import build_token_request
from tests.harness.scrape import label_leaks, promtool_problems, sample, scrape
from tests.integration.auth.test_issuer_http import CHALLENGE, QUOTA, Harness, harness

__all__ = ["harness"]  # the fixture, shared with the issuer's HTTP tests

REASONS = ("unauthenticated", "not_entitled", "quota_exhausted", "invalid_request")


async def counts(harness: Harness) -> dict[str, float]:
    text = await scrape(harness.client.app)
    found = {r: sample(text, "phoenix_auth_issuance_refused_total", reason=r) for r in REASONS}
    found["issued"] = sample(text, "phoenix_auth_tokens_issued_total")
    return found


async def test_tokens_are_counted_as_signed_and_refusals_by_their_reason(
    harness: Harness,
) -> None:
    key = await harness.token_key()
    before = await counts(harness)
    user = await harness.entitled_user()
    pairs = [build_token_request(CHALLENGE, key) for _ in range(3)]
    answer = await harness.post(
        batch.encode_batch_request([request for request, _ in pairs]),
        user.id_token,
        {"content-type": batch.REQUEST_MEDIA_TYPE},
    )
    assert answer.status_code == 200, answer.text
    request, _ = build_token_request(CHALLENGE, key)
    assert (await harness.post(request.encode(), None)).status_code == 401
    stranger = await asyncio.to_thread(harness.emulator.sign_up)
    assert (await harness.post(request.encode(), stranger.id_token)).status_code == 403
    assert (await harness.post(request.encode()[:-1], user.id_token)).status_code == 422
    for _ in range(QUOTA - 3):
        assert (await harness.post(request.encode(), user.id_token)).status_code == 200
    assert (await harness.post(request.encode(), user.id_token)).status_code == 429
    after = await counts(harness)
    assert {name: after[name] - before[name] for name in after} == {
        "issued": QUOTA,
        "unauthenticated": 1,
        "not_entitled": 1,
        "invalid_request": 1,
        "quota_exhausted": 1,
    }


async def test_the_signing_key_dates_and_the_build_are_exported(harness: Harness) -> None:
    watching = asyncio.create_task(watch_signing_key(harness.client.app.state.issuer))
    try:
        deadline = time.monotonic() + 10
        while not sample(
            await scrape(harness.client.app), "phoenix_auth_signing_key_max_age_seconds"
        ):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        watching.cancel()
    text = await scrape(harness.client.app)
    key = harness.client.app.state.issuer.signing_key()
    assert (
        sample(text, "phoenix_auth_signing_key_not_before_timestamp_seconds")
        == key.not_before.timestamp()
    )
    max_age = harness.client.app.state.issuer.policy.life.max_age.total_seconds()
    assert sample(text, "phoenix_auth_signing_key_max_age_seconds") == max_age
    assert f'signing_backend="{default_backend()}"' in text
    assert 'phoenix_build_info{role="auth"' in text


async def test_the_exposition_passes_promtool_and_names_no_user(harness: Harness) -> None:
    user = await harness.entitled_user()
    request, _ = build_token_request(CHALLENGE, await harness.token_key())
    assert (await harness.post(request.encode(), user.id_token)).status_code == 200
    text = await scrape(harness.client.app)
    assert promtool_problems(text) == ""
    assert label_leaks(text, [user.uid, user.email, user.id_token[:32]]) == []
