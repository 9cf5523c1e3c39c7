"""Issuer key rotation: which keys the directory lists, in which order, and which may sign."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from phoenix.auth.keys import (
    KeyBundleError,
    KeyLife,
    SigningKey,
    generate,
    listed_keys,
    parse_bundle,
    render_key,
    signing_key,
)
from tests.harness import issuer

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
OVERLAP = timedelta(hours=72)
LIFE = KeyLife(max_age=timedelta(days=30), overlap=OVERLAP)


def keys_at(*not_before: datetime) -> list[SigningKey]:
    return parse_bundle(issuer.bundle(*not_before))


def test_the_newest_valid_key_is_listed_first() -> None:
    old, new = keys_at(NOW - timedelta(days=30), NOW - timedelta(hours=1))
    assert listed_keys([old, new], NOW, LIFE)[0].truncated_id == new.truncated_id


def test_a_replaced_key_stays_listed_for_the_overlap_then_drops_out() -> None:
    old, new = keys_at(NOW - timedelta(days=30), NOW - timedelta(hours=71))
    assert [k.truncated_id for k in listed_keys([old, new], NOW, LIFE)] == [
        new.truncated_id,
        old.truncated_id,
    ]
    later = NOW + timedelta(hours=2)
    assert [k.truncated_id for k in listed_keys([old, new], later, LIFE)] == [new.truncated_id]


def test_an_upcoming_key_is_listed_last_and_the_current_one_still_signs() -> None:
    current, upcoming = keys_at(NOW - timedelta(days=1), NOW + timedelta(days=2))
    listed = listed_keys([current, upcoming], NOW, LIFE)
    assert [k.truncated_id for k in listed] == [current.truncated_id, upcoming.truncated_id]


def test_a_key_signs_for_its_max_age_after_not_before_and_no_longer() -> None:
    (key,) = keys_at(NOW - timedelta(days=30) + timedelta(seconds=1))
    assert signing_key([key], NOW, LIFE) is key
    assert signing_key([key], NOW + timedelta(seconds=1), LIFE) is None


def test_an_unrotated_key_is_listed_for_the_overlap_after_its_signing_life_then_drops() -> None:
    # Tokens fetched on its last signing day still redeem for the overlap; then nothing does.
    (key,) = keys_at(NOW - timedelta(days=31))
    assert listed_keys([key], NOW, LIFE) == [key]
    assert signing_key([key], NOW, LIFE) is None
    assert listed_keys([key], NOW + timedelta(days=2), LIFE) == []


def test_the_newest_key_in_effect_signs_and_an_upcoming_one_does_not_yet() -> None:
    current, upcoming = keys_at(NOW - timedelta(days=29), NOW + timedelta(hours=1))
    assert signing_key([current, upcoming], NOW, LIFE) is current
    assert signing_key([current, upcoming], NOW + timedelta(hours=2), LIFE) is upcoming


def test_keys_come_back_oldest_first_whatever_the_bundle_order() -> None:
    bundle = render_key(issuer.private_keys(2)[1], NOW) + render_key(
        issuer.private_keys(2)[0], NOW - timedelta(days=1)
    )
    parsed = parse_bundle(bundle)
    assert parsed[0].not_before < parsed[1].not_before


def test_generate_never_repeats_a_truncated_id() -> None:
    existing = keys_at(NOW, NOW + timedelta(days=1), NOW + timedelta(days=2))
    made = generate(existing, NOW)
    assert made.truncated_id not in {key.truncated_id for key in existing}


def test_a_non_2048_bit_key_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused
    with pytest.raises(KeyBundleError, match="RSA-2048"):
        parse_bundle(render_key(small, NOW))


def test_the_repr_of_a_key_shows_no_key_material() -> None:
    (key,) = keys_at(NOW)
    assert "PRIVATE" not in repr(key)
    assert str(key.private_key.private_numbers().d)[:20] not in repr(key)


async def test_an_issuer_without_a_key_it_may_sign_with_says_so_every_minute() -> None:
    import asyncio
    import contextlib

    from structlog.testing import capture_logs

    from phoenix.auth.app import watch_signing_key
    from phoenix.auth.issuer import Issuer, IssuerPolicy

    policy = IssuerPolicy("/v1/tokens", LIFE, quota=1, max_batch=1, directory_max_age=300)
    stale = Issuer(keys_at(NOW - timedelta(days=31)), policy, engine=None, clock=NOW.timestamp)  # type: ignore[arg-type]
    with capture_logs() as lines:
        watching = asyncio.create_task(watch_signing_key(stale, every=0.01))
        # Two warnings, however slowly a busy machine runs the loop (the test timeout bounds it).
        for _ in range(10_000):
            if sum(line["event"] == "issuer_no_signing_key" for line in lines) >= 2:
                break
            await asyncio.sleep(0.01)
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    assert sum(line["event"] == "issuer_no_signing_key" for line in lines) >= 2
    assert stale.signing_key() is None
    with pytest.raises(Exception, match="PHOENIX_ISSUER_KEY_MAX_AGE"):
        await stale.probe()
