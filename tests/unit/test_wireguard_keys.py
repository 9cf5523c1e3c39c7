"""WireGuard keys: X25519 per RFC 7748, in WireGuard's base64 form."""

from __future__ import annotations

import base64

import pytest

from phoenix.crypto.wireguard import InvalidKey, encode_key, generate_keypair, parse_key, public_key

# RFC 7748 §6.1: Alice's private key and the public key it yields.
ALICE_PRIVATE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")


def test_public_key_matches_rfc7748_vector() -> None:
    assert public_key(ALICE_PRIVATE) == ALICE_PUBLIC


def test_generated_pairs_are_consistent_and_distinct() -> None:
    private, public = generate_keypair()
    assert public_key(private) == public
    assert generate_keypair()[0] != private


def test_keys_round_trip_through_base64() -> None:
    assert parse_key(encode_key(ALICE_PUBLIC)) == ALICE_PUBLIC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64!",
        base64.b64encode(b"\x00" * 31).decode(),
        base64.b64encode(b"\x00" * 33).decode(),
        base64.urlsafe_b64encode(b"\xfb" * 32).decode(),  # url-safe alphabet is not WireGuard's
    ],
)
def test_malformed_keys_are_refused(text: str) -> None:
    with pytest.raises(InvalidKey):
        parse_key(text)
