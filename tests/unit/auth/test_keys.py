"""Issuer key rotation: which keys the directory lists, in which order, and which may sign."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from phoenix.auth.keys import (
    KeyBundleError,
    SigningKey,
    generate,
    listed_keys,
    parse_bundle,
    render_key,
)
from tests.harness import issuer

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
OVERLAP = timedelta(hours=72)


def keys_at(*not_before: datetime) -> list[SigningKey]:
    return parse_bundle(issuer.bundle(*not_before))


def test_the_newest_valid_key_is_listed_first() -> None:
    old, new = keys_at(NOW - timedelta(days=30), NOW - timedelta(hours=1))
    assert listed_keys([old, new], NOW, OVERLAP)[0].truncated_id == new.truncated_id


def test_a_replaced_key_stays_listed_for_the_overlap_then_drops_out() -> None:
    old, new = keys_at(NOW - timedelta(days=30), NOW - timedelta(hours=71))
    assert [k.truncated_id for k in listed_keys([old, new], NOW, OVERLAP)] == [
        new.truncated_id,
        old.truncated_id,
    ]
    later = NOW + timedelta(hours=2)
    assert [k.truncated_id for k in listed_keys([old, new], later, OVERLAP)] == [new.truncated_id]


def test_an_upcoming_key_is_listed_last_and_the_current_one_still_signs() -> None:
    current, upcoming = keys_at(NOW - timedelta(days=1), NOW + timedelta(days=2))
    listed = listed_keys([current, upcoming], NOW, OVERLAP)
    assert [k.truncated_id for k in listed] == [current.truncated_id, upcoming.truncated_id]


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
