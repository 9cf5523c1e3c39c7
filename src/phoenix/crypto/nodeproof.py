"""Proof that an exit node holds the private key of the WireGuard public key it registers.

WireGuard's own rule is that a peer *is* its key, so a registration must show the key, not only
name it. The config role hands out a challenge: a random nonce and a fresh X25519 key of its own.
Both sides compute the same X25519 shared secret (the node with its private key and the server's
public one, the server with its private one and the node's public key), derive a MAC key from it
with HKDF-SHA256, and the node MACs a transcript that binds the nonce, both keys and what it
claims (location, public address, port). Only the holder of the node's private key can compute
it; the nonce is used once, so a seen proof cannot be replayed. docs/node.md has the wire form
and a test vector (also checked by the daemon's own copy of this construction).

Pure: bytes in, bytes out, no I/O.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from hashlib import sha256
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES: Final = 32
KEY_BYTES: Final = 32
MAC_BYTES: Final = 32
HKDF_INFO: Final = b"phoenix node proof v1"
TRANSCRIPT_LABEL: Final = b"phoenix-node-register-v1"


class InvalidProof(ValueError):
    """The proof does not verify (wrong key, altered claims, or a malformed field)."""


@dataclass(frozen=True)
class Claims:
    """What a registration asserts besides the key; the proof covers every field."""

    location: str
    public_ip: str
    listen_port: int


def transcript(nonce: bytes, server_key: bytes, node_key: bytes, claims: Claims) -> bytes:
    """The label, then each field as a 2-byte big-endian length and its bytes."""
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
            raise InvalidProof("a field of the transcript is too long")
        out += len(field).to_bytes(2, "big") + field
    return bytes(out)


def _mac(shared: bytes, nonce: bytes, message: bytes) -> bytes:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=nonce, info=HKDF_INFO).derive(shared)
    return hmac.new(key, message, sha256).digest()


def _exchange(private: bytes, public: bytes) -> bytes:
    if len(private) != KEY_BYTES or len(public) != KEY_BYTES:
        raise InvalidProof("X25519 keys are 32 bytes")
    try:
        # cryptography refuses a low-order public key (an all-zero shared secret) here.
        return X25519PrivateKey.from_private_bytes(private).exchange(
            X25519PublicKey.from_public_bytes(public)
        )
    except ValueError:
        raise InvalidProof("the key agreement failed (a low-order key)") from None


def prove(
    node_private: bytes, node_key: bytes, nonce: bytes, server_key: bytes, claims: Claims
) -> bytes:
    """The node's side: the MAC over the transcript, keyed by its agreement with the server."""
    shared = _exchange(node_private, server_key)
    return _mac(shared, nonce, transcript(nonce, server_key, node_key, claims))


def verify(
    server_private: bytes,
    server_key: bytes,
    node_key: bytes,
    nonce: bytes,
    claims: Claims,
    mac: bytes,
) -> None:
    """The server's side; raises :class:`InvalidProof` unless ``mac`` is the node's proof."""
    if len(nonce) != NONCE_BYTES or len(mac) != MAC_BYTES:
        raise InvalidProof("a nonce and a MAC are 32 bytes each")
    shared = _exchange(server_private, node_key)
    expected = _mac(shared, nonce, transcript(nonce, server_key, node_key, claims))
    if not hmac.compare_digest(expected, mac):
        raise InvalidProof("the proof does not match the key")
