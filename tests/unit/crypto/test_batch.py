"""Batched issuance codecs: QUIC varints (RFC 9000 §16) and the arbitrary batch framing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix.crypto.batch import (
    decode_batch_request,
    decode_batch_response,
    decode_varint,
    encode_batch_request,
    encode_batch_response,
    encode_varint,
)
from phoenix.crypto.privacypass.errors import DecodeError
from phoenix.crypto.privacypass.structures import NK, TokenRequest


@pytest.mark.parametrize(
    ("value", "encoded"),
    # RFC 9000 §A.1 sample encodings.
    [
        (151_288_809_941_952_652, "c2197c5eff14e88c"),
        (494_878_333, "9d7f3e7d"),
        (15_293, "7bbd"),
        (37, "25"),
    ],
)
def test_varints_match_rfc9000_samples(value: int, encoded: str) -> None:
    assert encode_varint(value) == bytes.fromhex(encoded)
    assert decode_varint(bytes.fromhex(encoded)) == (value, len(encoded) // 2)


def test_a_varint_longer_than_needed_is_refused() -> None:
    with pytest.raises(DecodeError):
        decode_varint(bytes.fromhex("4025"))  # RFC 9000 allows it; the draft requires minimal


@given(st.integers(min_value=0, max_value=(1 << 62) - 1))
def test_varints_round_trip(value: int) -> None:
    encoded = encode_varint(value)
    assert decode_varint(encoded) == (value, len(encoded))


def _request(i: int) -> TokenRequest:
    return TokenRequest(i % 256, bytes([i % 256]) * NK)


@given(st.integers(min_value=1, max_value=32))
def test_batch_requests_round_trip(count: int) -> None:
    requests = [_request(i) for i in range(count)]
    assert decode_batch_request(encode_batch_request(requests), 32) == requests


def test_a_batch_over_the_limit_is_refused() -> None:
    with pytest.raises(DecodeError):
        decode_batch_request(encode_batch_request([_request(i) for i in range(33)]), 32)


@pytest.mark.parametrize("cut", [1, 2, 100, 258])
def test_a_truncated_batch_is_refused(cut: int) -> None:
    encoded = encode_batch_request([_request(1), _request(2)])
    with pytest.raises(DecodeError):
        decode_batch_request(encoded[:-cut], 32)


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(DecodeError):
        decode_batch_request(encode_varint(0), 32)


def test_batch_responses_round_trip_with_absent_items() -> None:
    signatures: list[bytes | None] = [b"\x01" * NK, None, b"\x02" * NK]
    assert decode_batch_response(encode_batch_response(signatures)) == signatures


@given(st.binary(max_size=600))
def test_decoders_raise_only_decode_errors(data: bytes) -> None:
    for decode in (lambda d: decode_batch_request(d, 32), decode_batch_response):
        with contextlib.suppress(DecodeError):
            decode(data)
