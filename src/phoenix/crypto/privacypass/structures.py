"""The binary structures of token type 0x0002 (TLS presentation language, RFC 8446 §3).

TokenChallenge and Token (RFC 9577 §2.1.1, §2.2.1), the token authenticator input (§2.2.3),
TokenRequest and TokenResponse (RFC 9578 §6.1, §6.2).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

from phoenix.crypto.privacypass.errors import DecodeError
from phoenix.crypto.privacypass.reader import Reader

TOKEN_TYPE_BLIND_RSA = 0x0002  # RFC 9578 §8.2.2
NK = 256  # authenticator (signature) size for type 0x0002
NID = 32  # token_key_id size
NONCE_LEN = 32
DIGEST_LEN = 32  # SHA-256, challenge_digest
REDEMPTION_CONTEXT_LENGTHS = (0, 32)  # RFC 9577 §2.1.1

_TOKEN_REQUEST_LEN = 2 + 1 + NK


def _check_name(value: str, what: str, *, allow_empty: bool) -> None:
    """Server names and origin lists are ASCII without spaces (RFC 9577 §2.1.1.1)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str")
    if not value.isascii() or any(not 0x21 <= ord(char) <= 0x7E for char in value):
        raise ValueError(f"{what} must be visible ASCII")
    if not allow_empty and not value:
        raise ValueError(f"{what} must not be empty")
    if len(value) > 0xFFFF:
        raise ValueError(f"{what} is longer than 65535 bytes")


def _check_bytes(value: bytes, length: int, what: str) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"{what} must be bytes")
    if len(value) != length:
        raise ValueError(f"{what} must be {length} bytes, not {len(value)}")


@dataclass(frozen=True, slots=True)
class TokenChallenge:
    """The default TokenChallenge structure (RFC 9577 §2.1.1).

    `origin_info` is kept as the exact comma-separated string, since the token binds to the
    SHA-256 of these very bytes; `origins` splits it.
    """

    token_type: int
    issuer_name: str
    redemption_context: bytes = b""
    origin_info: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.token_type, int) or not 0 <= self.token_type <= 0xFFFF:
            raise ValueError("token_type is a uint16")
        _check_name(self.issuer_name, "issuer_name", allow_empty=False)
        if not isinstance(self.redemption_context, bytes):
            raise TypeError("redemption_context must be bytes")
        if len(self.redemption_context) not in REDEMPTION_CONTEXT_LENGTHS:
            raise ValueError("redemption_context is either empty or 32 bytes")
        _check_name(self.origin_info, "origin_info", allow_empty=True)

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple(self.origin_info.split(",")) if self.origin_info else ()

    def encode(self) -> bytes:
        issuer = self.issuer_name.encode("ascii")
        origins = self.origin_info.encode("ascii")
        return (
            self.token_type.to_bytes(2, "big")
            + len(issuer).to_bytes(2, "big")
            + issuer
            + len(self.redemption_context).to_bytes(1, "big")
            + self.redemption_context
            + len(origins).to_bytes(2, "big")
            + origins
        )

    @classmethod
    def decode(cls, data: bytes) -> TokenChallenge:
        reader = Reader(data)
        token_type = reader.uint(2, "token_type")
        issuer = reader.vector(2, "issuer_name")
        context = reader.vector(1, "redemption_context")
        origins = reader.vector(2, "origin_info")
        reader.finish("TokenChallenge")
        try:
            return cls(token_type, issuer.decode("ascii"), context, origins.decode("ascii"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise DecodeError(f"malformed TokenChallenge: {exc}") from None

    def digest(self) -> bytes:
        """challenge_digest: SHA-256 of the encoded challenge (RFC 9577 §2.2.1)."""
        return challenge_digest(self.encode())


def challenge_digest(encoded_challenge: bytes) -> bytes:
    """SHA-256 of an encoded TokenChallenge, as carried in Token.challenge_digest."""
    return hashlib.sha256(encoded_challenge).digest()


def token_authenticator_input(nonce: bytes, challenge_digest: bytes, token_key_id: bytes) -> bytes:
    """The bytes the issuer signs blindly (RFC 9577 §2.2.3, RFC 9578 §6.1 token_input).

    token_type (0x0002) || nonce || challenge_digest || token_key_id.
    """
    _check_bytes(nonce, NONCE_LEN, "nonce")
    _check_bytes(challenge_digest, DIGEST_LEN, "challenge_digest")
    _check_bytes(token_key_id, NID, "token_key_id")
    return TOKEN_TYPE_BLIND_RSA.to_bytes(2, "big") + nonce + challenge_digest + token_key_id


@dataclass(frozen=True, slots=True)
class Token:
    """A type 0x0002 Token (RFC 9577 §2.2.1 with Nid = 32, Nk = 256)."""

    token_type: ClassVar[int] = TOKEN_TYPE_BLIND_RSA
    nonce: bytes
    challenge_digest: bytes
    token_key_id: bytes
    authenticator: bytes

    def __post_init__(self) -> None:
        _check_bytes(self.nonce, NONCE_LEN, "nonce")
        _check_bytes(self.challenge_digest, DIGEST_LEN, "challenge_digest")
        _check_bytes(self.token_key_id, NID, "token_key_id")
        _check_bytes(self.authenticator, NK, "authenticator")

    def authenticator_input(self) -> bytes:
        return token_authenticator_input(self.nonce, self.challenge_digest, self.token_key_id)

    def encode(self) -> bytes:
        return self.authenticator_input() + self.authenticator

    @classmethod
    def decode(cls, data: bytes) -> Token:
        reader = Reader(data)
        token_type = reader.uint(2, "token_type")
        if token_type != TOKEN_TYPE_BLIND_RSA:
            raise DecodeError(f"unsupported token type 0x{token_type:04x}")
        token = cls(
            nonce=reader.take(NONCE_LEN, "nonce"),
            challenge_digest=reader.take(DIGEST_LEN, "challenge_digest"),
            token_key_id=reader.take(NID, "token_key_id"),
            authenticator=reader.take(NK, "authenticator"),
        )
        reader.finish("Token")
        return token


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """TokenRequest for type 0x0002 (RFC 9578 §6.1)."""

    token_type: ClassVar[int] = TOKEN_TYPE_BLIND_RSA
    truncated_token_key_id: int
    blinded_msg: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.truncated_token_key_id, int) or not (
            0 <= self.truncated_token_key_id <= 0xFF
        ):
            raise ValueError("truncated_token_key_id is a uint8")
        _check_bytes(self.blinded_msg, NK, "blinded_msg")

    def encode(self) -> bytes:
        return (
            TOKEN_TYPE_BLIND_RSA.to_bytes(2, "big")
            + self.truncated_token_key_id.to_bytes(1, "big")
            + self.blinded_msg
        )

    @classmethod
    def decode(cls, data: bytes) -> TokenRequest:
        """Strict: an unsupported token type or a blinded_msg of the wrong size is a DecodeError
        (the issuer answers both with 422, RFC 9578 §6.2)."""
        reader = Reader(data)
        token_type = reader.uint(2, "token_type")
        if token_type != TOKEN_TYPE_BLIND_RSA:
            raise DecodeError(f"unsupported token type 0x{token_type:04x}")
        if len(data) != _TOKEN_REQUEST_LEN:
            raise DecodeError(f"a type 0x0002 TokenRequest is {_TOKEN_REQUEST_LEN} bytes")
        request = cls(reader.uint(1, "truncated_token_key_id"), reader.take(NK, "blinded_msg"))
        reader.finish("TokenRequest")
        return request


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """TokenResponse for type 0x0002 (RFC 9578 §6.2): just the blind signature."""

    blind_sig: bytes

    def __post_init__(self) -> None:
        _check_bytes(self.blind_sig, NK, "blind_sig")

    def encode(self) -> bytes:
        return self.blind_sig

    @classmethod
    def decode(cls, data: bytes) -> TokenResponse:
        reader = Reader(data)
        response = cls(reader.take(NK, "blind_sig"))
        reader.finish("TokenResponse")
        return response
