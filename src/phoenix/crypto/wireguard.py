"""WireGuard keys: X25519 key pairs in WireGuard's base64 text form."""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

KEY_BYTES = 32


class InvalidKey(ValueError):
    pass


def parse_key(text: str) -> bytes:
    """Decode a WireGuard key (standard base64 of exactly 32 bytes); reject anything else."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidKey("not base64") from None
    if len(raw) != KEY_BYTES:
        raise InvalidKey(f"a WireGuard key is {KEY_BYTES} bytes, this is {len(raw)}")
    return raw


def encode_key(raw: bytes) -> str:
    if len(raw) != KEY_BYTES:
        raise InvalidKey(f"a WireGuard key is {KEY_BYTES} bytes, this is {len(raw)}")
    return base64.b64encode(raw).decode("ascii")


def generate_keypair() -> tuple[bytes, bytes]:
    """Return (private, public) raw 32-byte keys."""
    private = X25519PrivateKey.generate()
    return (
        private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
        private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
    )


def public_key(private: bytes) -> bytes:
    key = X25519PrivateKey.from_private_bytes(private)
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
