"""The DNS blocklists a node serves: fetched from the worker's publication, verified, parsed.

The worker publishes, per variant, a manifest signed with Ed25519 and, beside the Bloom filter,
the variant's names as a text file named in the manifest with its SHA-256. A node trusts only
that signature: the manifest is checked against the configured key, the names file against the
manifest's digest, and every line against a strict host-name grammar, because each name becomes
a line of Unbound's configuration. Any mismatch refuses the whole download and the node keeps
the list it has.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Final

import httpcore
import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# Labels of letters, digits, hyphens and underscores (hosts files carry ``_dmarc``-style names),
# no label starting or ending with a hyphen, at most 253 characters in all.
NAME: Final = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
    r"(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\Z"
)
MAX_BYTES: Final = 64 * 1024 * 1024


class BlocklistError(Exception):
    """The publication is unreachable or not to be trusted; the loaded list stays."""


class Manifest(msgspec.Struct, frozen=True):
    format: int
    sha256: str
    variant: str
    names: str | None = None
    names_sha256: str | None = None


class SignedManifest(msgspec.Struct, frozen=True):
    body: str
    signature: str


@dataclass(frozen=True)
class Blocklist:
    variant: str
    digest: str  # the names file's SHA-256, as the signed manifest gives it
    names: frozenset[str]


def verify_manifest(raw: bytes, key: Ed25519PublicKey, variant: str) -> Manifest:
    """The manifest whose signature ``key`` made over its exact body, for ``variant``."""
    try:
        envelope = msgspec.json.decode(raw, type=SignedManifest)
        signature = base64.b64decode(envelope.signature, validate=True)
        key.verify(signature, envelope.body.encode())
        manifest = msgspec.json.decode(envelope.body, type=Manifest)
    except (msgspec.DecodeError, msgspec.ValidationError, binascii.Error, InvalidSignature):
        raise BlocklistError(
            f"{variant}: the manifest is not signed by the blocklist key"
        ) from None
    if manifest.variant != variant:
        raise BlocklistError(f"{variant}: the manifest is for {manifest.variant!r}")
    if manifest.names is None or manifest.names_sha256 is None:
        raise BlocklistError(f"{variant}: the manifest names no names file (an older worker)")
    return manifest


def parse_names(data: bytes, expected_sha256: str, variant: str) -> frozenset[str]:
    """The names of a names file whose SHA-256 is ``expected_sha256``; all valid or refused."""
    if hashlib.sha256(data).hexdigest() != expected_sha256:
        raise BlocklistError(f"{variant}: the names file does not match the manifest's sha256")
    try:
        lines = data.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise BlocklistError(f"{variant}: the names file is not ASCII") from None
    for number, line in enumerate(lines, 1):
        if not NAME.match(line):
            raise BlocklistError(f"{variant}: line {number} of the names file is not a host name")
    return frozenset(lines)


class Fetcher:
    """Conditional GETs of one publication; ``fetch`` answers None when nothing changed."""

    def __init__(self, base_url: str, key: bytes, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = Ed25519PublicKey.from_public_bytes(key)
        self.timeout = timeout
        self._etags: dict[str, str] = {}
        self._digests: dict[str, str] = {}
        self._pool = httpcore.AsyncConnectionPool(max_connections=2)

    async def aclose(self) -> None:
        await self._pool.aclose()

    def forget(self, variant: str) -> None:
        """Fetch ``variant`` in full next time (its resolver lost the list)."""
        self._etags.pop(variant, None)
        self._digests.pop(variant, None)

    async def fetch(self, variant: str) -> Blocklist | None:
        headers: dict[bytes | str, bytes | str] = {}
        if variant in self._etags:
            headers["If-None-Match"] = self._etags[variant]
        status, raw, etag = await self._get(f"{variant}/manifest.json", headers)
        if status == 304:
            return None
        if status != 200:
            raise BlocklistError(f"{variant}: the manifest answered HTTP {status}")
        manifest = verify_manifest(raw, self.key, variant)
        assert manifest.names is not None
        assert manifest.names_sha256 is not None
        if self._digests.get(variant) == manifest.names_sha256:
            return None  # a new manifest (another filter build) over the same names
        status, data, _ = await self._get(manifest.names, {})
        if status != 200:
            raise BlocklistError(f"{variant}: the names file answered HTTP {status}")
        names = parse_names(data, manifest.names_sha256, variant)
        self._digests[variant] = manifest.names_sha256
        if etag:
            self._etags[variant] = etag
        return Blocklist(variant, manifest.names_sha256, names)

    async def _get(
        self, path: str, headers: dict[bytes | str, bytes | str]
    ) -> tuple[int, bytes, str | None]:
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            async with self._pool.stream(
                "GET",
                url,
                headers=headers,
                extensions={
                    "timeout": dict.fromkeys(("connect", "read", "write", "pool"), self.timeout)
                },
            ) as answer:
                chunks: list[bytes] = []
                size = 0
                async for chunk in answer.aiter_stream():
                    size += len(chunk)
                    if size > MAX_BYTES:
                        raise BlocklistError(f"{path} is larger than {MAX_BYTES} bytes")
                    chunks.append(chunk)
                etag = dict((k.lower(), v) for k, v in answer.headers).get(b"etag")
                return answer.status, b"".join(chunks), etag.decode() if etag else None
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as error:
            raise BlocklistError(f"{path}: {type(error).__name__}: {error}") from None
        except httpcore.UnsupportedProtocol as error:
            raise BlocklistError(f"{path}: {error}") from None
