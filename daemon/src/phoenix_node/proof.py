"""Proof that this node holds the private key of the WireGuard public key it registers.

The config role answers a challenge with a single-use nonce and an X25519 key of its own. The
node agrees a secret with that key using its WireGuard private key, derives a MAC key with
HKDF-SHA256 (salt: the nonce) and MACs a transcript binding the nonce, both keys and what it
claims (location, public address, port). Only the key's holder can compute it, and the nonce
makes a seen proof useless a second time.

This is the daemon's own copy of the construction (it may not import the server's): the two are
held together by the test vector in ``docs/node-proof-vector.json``, which both sides check.
Pure: bytes in, bytes out.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from hashlib import sha256
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 32
HKDF_INFO: Final = b"phoenix node proof v1"
TRANSCRIPT_LABEL: Final = b"phoenix-node-register-v1"


class ProofError(ValueError):
    """The challenge cannot be answered (a malformed or low-order server key, a bad nonce)."""


@dataclass(frozen=True)
class Claims:
    """What the registration asserts besides the key; the MAC covers each field."""

    location: str
    public_ip: str
    listen_port: int


def transcript(nonce: bytes, server_key: bytes, node_key: bytes, claims: Claims) -> bytes:
    """The label, then each field as its length (2 bytes, big-endian) and its bytes."""
    fields = (
        nonce,
        server_key,
        node_key,
        claims.location.encode(),
        claims.public_ip.encode(),
        str(claims.listen_port).encode(),
    )
    out = bytearray(TRANSCRIPT_LABEL)
    for field in fields:
        if len(field) > 0xFFFF:
            raise ProofError("a field of the transcript is longer than 65535 bytes")
        out += len(field).to_bytes(2, "big") + field
    return bytes(out)


def prove(
    node_private: bytes, node_key: bytes, nonce: bytes, server_key: bytes, claims: Claims
) -> bytes:
    """HMAC-SHA256 of the transcript under the key derived from X25519(node, server)."""
    if len(nonce) != NONCE_BYTES:
        raise ProofError(f"the challenge nonce is {len(nonce)} bytes, not {NONCE_BYTES}")
    if len(server_key) != KEY_BYTES or len(node_private) != KEY_BYTES:
        raise ProofError("X25519 keys are 32 bytes")
    try:
        # cryptography refuses a low-order server key (an all-zero shared secret) here: a
        # challenge that would let anyone compute the MAC is not one to answer.
        shared = X25519PrivateKey.from_private_bytes(node_private).exchange(
            X25519PublicKey.from_public_bytes(server_key)
        )
    except ValueError:
        raise ProofError("the key agreement with the server key failed (low order)") from None
    mac_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=nonce, info=HKDF_INFO).derive(shared)
    return hmac.new(mac_key, transcript(nonce, server_key, node_key, claims), sha256).digest()
