"""`blocklist check NAME`: the signed manifest, its filter, and a lookup (docs/bloom-format.md).

Written from the format document alone, as any client reader would be: the manifest's Ed25519
signature is checked over the `body` string exactly as sent before anything in it is believed,
and the filter's SHA-256 and header must agree with the manifest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any, Final

import httpx
import idna
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from phoenix.client.endpoints import Endpoints, call
from phoenix.client.errors import EXIT_USAGE, ClientError

MAGIC: Final = b"PXBF"
HEADER: Final = struct.Struct(">4sBBBBQQd")


class BadFilter(ClientError):
    pass


@dataclass(frozen=True)
class Filter:
    m: int
    k: int
    bits: bytes

    @classmethod
    def parse(cls, data: bytes) -> Filter:
        if len(data) < HEADER.size:
            raise BadFilter("the blocklist filter is truncated")
        magic, version, hash_id, k, _, m, _, _ = HEADER.unpack_from(data)
        if magic != MAGIC or version != 1 or hash_id != 1:
            raise BadFilter("the blocklist filter is not format 1 (update phoenix-client)")
        if not (1 <= k <= 64 and 1 <= m <= 2**31 - 1) or len(data) != HEADER.size + (m + 7) // 8:
            raise BadFilter("the blocklist filter's header does not match its size")
        return cls(m, k, data[HEADER.size :])

    def indices(self, name: bytes) -> list[int]:
        words: list[int] = []
        block = 0
        while len(words) < self.k:
            words += struct.unpack(">8I", hashlib.sha256(bytes([block]) + name).digest())
            block += 1
        return [word % self.m for word in words[: self.k]]

    def __contains__(self, name: bytes) -> bool:
        return all(self.bits[i // 8] & (1 << (i % 8)) for i in self.indices(name))


def normalise(name: str) -> str:
    text = name.strip().removesuffix(".")
    if not text:
        raise ClientError("an empty name cannot be looked up", EXIT_USAGE)
    if text.isascii():  # host lists carry names IDNA would refuse (underscores): keep them as is
        return text.lower()
    try:
        return idna.encode(text, uts46=True, transitional=False).decode("ascii").lower()
    except idna.IDNAError as error:
        raise ClientError(f"{name!r} is not a host name ({error})", EXIT_USAGE) from None


def suffixes(name: str) -> list[str]:
    """The name and each parent domain, longest first (the filter holds exact names)."""
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)] or [name]


def verify_manifest(raw: bytes, public_key_b64: str) -> dict[str, Any]:
    """The manifest's body, once its signature verifies under the shipped public key."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
    except (ValueError, binascii.Error):
        raise ClientError(
            "the blocklist public key is not base64 of 32 bytes", EXIT_USAGE
        ) from None
    try:
        manifest = json.loads(raw)
        body, signature = manifest["body"], manifest["signature"]
        key.verify(base64.b64decode(signature, validate=True), body.encode("utf-8"))
    except InvalidSignature:
        raise BadFilter("the blocklist manifest's signature does not verify: refused") from None
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise BadFilter("the blocklist manifest is malformed") from None
    parsed: dict[str, Any] = json.loads(body)
    if parsed.get("format") != 1:
        raise BadFilter("the blocklist manifest is not format 1 (update phoenix-client)")
    return parsed


def load(http: httpx.Client, endpoints: Endpoints, variant: str) -> Filter:
    manifest_url = f"{endpoints.blocklist}/{variant}/manifest.json"
    try:
        raw = call(http, "the blocklist server", "GET", manifest_url).content
    except ClientError as error:
        if error.status != 404:
            raise
        raise ClientError(
            f"no {variant} blocklist is published at {endpoints.blocklist} yet "
            "(the worker publishes it on its schedule)"
        ) from None
    body = verify_manifest(raw, endpoints.blocklist_key)
    try:
        path, digest, m, k = str(body["filter"]), str(body["sha256"]), body["m"], body["k"]
    except KeyError as error:
        raise BadFilter(f"the blocklist manifest lacks {error}") from None
    data = call(http, "the blocklist server", "GET", f"{endpoints.blocklist}/{path}").content
    if hashlib.sha256(data).hexdigest() != digest:
        raise BadFilter("the blocklist filter's SHA-256 is not the one the manifest signs")
    found = Filter.parse(data)
    if (found.m, found.k) != (m, k):
        raise BadFilter("the blocklist filter's header disagrees with the manifest")
    return found


def check(http: httpx.Client, endpoints: Endpoints, name: str, variant: str) -> str | None:
    """The listed name (the name itself or a parent), or None when certainly not listed."""
    bloom = load(http, endpoints, variant)
    for candidate in suffixes(normalise(name)):
        if candidate.encode("ascii") in bloom:
            return candidate
    return None
