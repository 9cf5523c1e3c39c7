"""Arbitrary batched token issuance (draft-ietf-privacypass-batched-tokens-04 §6), type 0x0002.

BatchTokenRequest is a vector<V> of TokenRequests; BatchTokenResponse a vector<V> of
optional<TokenResponse>, where a type-2 TokenResponse here carries its token_type first. ``V``
is a QUIC variable-length integer (RFC 9000 §16) in its shortest form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from phoenix.crypto.privacypass.errors import DecodeError
from phoenix.crypto.privacypass.structures import NK, TOKEN_TYPE_BLIND_RSA, TokenRequest

REQUEST_MEDIA_TYPE: Final = "application/private-token-arbitrary-batch-request"
RESPONSE_MEDIA_TYPE: Final = "application/private-token-arbitrary-batch-response"
_REQUEST_LEN: Final = 2 + 1 + NK
_VARINT_MAX: Final = (1 << 62) - 1


def encode_varint(value: int) -> bytes:
    if value < 0 or value > _VARINT_MAX:
        raise ValueError("a QUIC varint holds 0 .. 2^62-1")
    for prefix, size in ((0, 1), (1, 2), (2, 4), (3, 8)):
        if value < 1 << (8 * size - 2):
            return (value | prefix << (8 * size - 2)).to_bytes(size, "big")
    raise AssertionError("unreachable")


def decode_varint(data: bytes, offset: int = 0) -> tuple[int, int]:
    """(value, next offset); refuses truncation and any encoding longer than the shortest."""
    if offset >= len(data):
        raise DecodeError("truncated length")
    size = 1 << (data[offset] >> 6)
    if offset + size > len(data):
        raise DecodeError("truncated length")
    value = int.from_bytes(data[offset : offset + size], "big") & ((1 << (8 * size - 2)) - 1)
    if size > 1 and value < 1 << (8 * (size // 2) - 2):
        raise DecodeError("length not in its shortest form")
    return value, offset + size


def encode_batch_request(requests: Sequence[TokenRequest]) -> bytes:
    body = b"".join(request.encode() for request in requests)
    return encode_varint(len(body)) + body


def decode_batch_request(data: bytes, max_requests: int) -> list[TokenRequest]:
    """Every TokenRequest of a batch; a foreign token type or a wrong size is a DecodeError."""
    length, offset = decode_varint(data)
    if offset + length != len(data):
        raise DecodeError("batch length does not match the body")
    if length % _REQUEST_LEN:
        raise DecodeError(f"a batch of type 0x0002 requests is a multiple of {_REQUEST_LEN} bytes")
    count = length // _REQUEST_LEN
    if not 1 <= count <= max_requests:
        raise DecodeError(f"a batch holds 1 to {max_requests} requests, this one {count}")
    return [
        TokenRequest.decode(data[start : start + _REQUEST_LEN])
        for start in range(offset, len(data), _REQUEST_LEN)
    ]


def encode_batch_response(blind_signatures: Sequence[bytes | None]) -> bytes:
    items = []
    for signature in blind_signatures:
        if signature is None:
            items.append(b"\x00")
        else:
            items.append(b"\x01" + TOKEN_TYPE_BLIND_RSA.to_bytes(2, "big") + signature)
    body = b"".join(items)
    return encode_varint(len(body)) + body


def decode_batch_response(data: bytes) -> list[bytes | None]:
    length, offset = decode_varint(data)
    if offset + length != len(data):
        raise DecodeError("batch length does not match the body")
    signatures: list[bytes | None] = []
    while offset < len(data):
        present = data[offset]
        offset += 1
        if present == 0:
            signatures.append(None)
            continue
        if present != 1:
            raise DecodeError("optional presence octet is neither 0 nor 1")
        end = offset + 2 + NK
        if end > len(data):
            raise DecodeError("truncated TokenResponse")
        if int.from_bytes(data[offset : offset + 2], "big") != TOKEN_TYPE_BLIND_RSA:
            raise DecodeError("unsupported token type in response")
        signatures.append(data[offset + 2 : end])
        offset = end
    return signatures
