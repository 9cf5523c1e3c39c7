"""WireGuard public keys as a client sends them: any text is a 32-byte key or InvalidKey, and a key
that parses is printed back exactly as sent (one canonical form, so one lease per key)."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from phoenix.crypto.wireguard import InvalidKey, encode_key, generate_keypair, parse_key
from tests.fuzz.budget import FUZZ
from tests.fuzz.mutations import mutated_text


def encode_base64(data: bytes) -> str:
    return base64.b64encode(data).decode()


keys = st.binary(min_size=32, max_size=32).map(encode_key)


@FUZZ
@given(
    mutated_text(keys)
    | st.text(max_size=60)
    | st.binary(max_size=40).map(base64.b64encode).map(bytes.decode)
)
def test_any_text_is_a_key_or_invalid_key_and_a_key_prints_back_as_sent(text: str) -> None:
    try:
        raw = parse_key(text)
    except InvalidKey:
        return
    assert len(raw) == 32
    assert encode_key(raw) == text


@FUZZ
@given(st.binary(min_size=32, max_size=32))
def test_keys_round_trip(raw: bytes) -> None:
    assert parse_key(encode_key(raw)) == raw


def test_a_generated_key_pair_parses() -> None:
    private, public = generate_keypair()
    assert parse_key(encode_key(public)) == public
    assert parse_key(encode_key(private)) == private
