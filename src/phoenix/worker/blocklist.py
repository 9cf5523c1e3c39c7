"""The blocklist compiler: hosts file → Bloom filter and names file → signed manifest.

Every step can run twice: a 304 does no work, a list that did not change publishes nothing, and
the filter and the names file (the names it holds, one per line, which exit nodes load into
their resolver) are named by their SHA-256, so writing one again writes the same bytes. The
manifest is written last; the HTTP validators are stored only after it, so a run that dies
half-way simply runs again in full.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import httpx
import msgspec
import redis
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey

from phoenix.common.logging import get_logger
from phoenix.worker import bloom, hosts
from phoenix.worker.publish import IMMUTABLE, SHORT, Target
from phoenix.worker.schemas import MANIFEST_FORMAT, Manifest, SignedManifest

_log = get_logger("phoenix.worker.blocklist")

Outcome = Literal["not-modified", "unchanged", "published"]


class BlocklistRefused(Exception):
    """The download is not a list to publish; the last published filter stays."""


@dataclass(frozen=True)
class Compiler:
    http: httpx.Client
    redis: redis.Redis
    target: Target
    signing_key: SigningKey
    base_url: str
    namespace: str  # Redis key prefix for the validators
    false_positive_rate: float
    max_shrink: float
    max_growth: float
    max_bytes: int

    def source_url(self, variant: str) -> str:
        base = self.base_url.rstrip("/")
        return f"{base}/hosts" if variant == "base" else f"{base}/alternates/{variant}/hosts"

    def _validators_key(self, variant: str) -> str:
        return f"{self.namespace}:blocklist:validators:{variant}"

    def compile(self, variant: str, now: datetime | None = None) -> Outcome:
        previous = self.current_manifest(variant)
        validators: dict[str, str] = {}
        # Validators only count while the manifest they led to is still published, and not for
        # one from before names files: that list is fetched in full, to publish its names.
        if previous is not None and previous.names is not None:
            validators = self._validators(variant)
            if validators.get("sha256") != previous.sha256:
                validators = {}
        answer = self._fetch(self.source_url(variant), validators)
        if answer is None:
            _log.info("blocklist_not_modified", variant=variant)
            return "not-modified"
        body, new_validators = answer
        try:
            parsed = hosts.parse(body)
        except hosts.NotAHostsFile as error:
            raise BlocklistRefused(f"{variant}: {error}") from None
        n = len(parsed.names)
        if previous is not None:
            if n < previous.n * (1.0 - self.max_shrink):
                raise BlocklistRefused(
                    f"{variant}: {n} names against {previous.n} published: it shrank by more "
                    f"than {self.max_shrink:.0%}"
                )
            if n > previous.n * self.max_growth:
                raise BlocklistRefused(
                    f"{variant}: {n} names against {previous.n} published: more than "
                    f"{self.max_growth:g}x"
                )
        ordered = sorted(parsed.names)
        data = bloom.build(ordered, self.false_positive_rate)
        digest = hashlib.sha256(data).hexdigest()
        names = names_file(ordered)
        names_digest = hashlib.sha256(names).hexdigest()
        outcome: Outcome = "unchanged"
        if previous is None or (previous.sha256, previous.names_sha256) != (digest, names_digest):
            self._publish(variant, data, digest, names, names_digest, now or datetime.now(UTC))
            outcome = "published"
        self._store_validators(variant, {**new_validators, "sha256": digest})
        _log.info(
            "blocklist_" + outcome,
            variant=variant,
            names=n,
            skipped=parsed.skipped,
            sha256=digest,
            names_sha256=names_digest,
            bytes=len(data),
        )
        return outcome

    def _publish(
        self, variant: str, data: bytes, digest: str, names: bytes, names_digest: str, now: datetime
    ) -> None:
        path = self._write_once(f"filters/{digest}.bloom", data, "application/octet-stream")
        names_path = self._write_once(
            f"names/{names_digest}.txt", names, "text/plain; charset=utf-8"
        )
        parameters = bloom.BloomFilter(data).parameters
        manifest = Manifest(
            format=MANIFEST_FORMAT,
            sha256=digest,
            n=parameters.n,
            p=parameters.p,
            m=parameters.m,
            k=parameters.k,
            built_hour=now.astimezone(UTC).strftime("%Y-%m-%dT%H:00:00Z"),
            filter=path,
            variant=variant,
            names=names_path,
            names_sha256=names_digest,
        )
        # Last: until this write, readers keep the previous manifest and the files it names.
        self.target.write(
            f"{variant}/manifest.json", sign(manifest, self.signing_key), "application/json", SHORT
        )

    def _write_once(self, path: str, data: bytes, content_type: str) -> str:
        """A content-addressed object: its name is its digest, so one already there is the same."""
        if not self.target.exists(path):
            self.target.write(path, data, content_type, IMMUTABLE)
        return path

    def current_manifest(self, variant: str) -> Manifest | None:
        """The published manifest, if it is there and signed by our key."""
        raw = self.target.read(f"{variant}/manifest.json")
        if raw is None:
            return None
        try:
            return verify(raw, self.signing_key.verify_key.encode())
        except (msgspec.DecodeError, msgspec.ValidationError, BadSignatureError, ValueError):
            _log.warning("blocklist_manifest_unreadable", variant=variant)
            return None  # republish over it: a manifest we cannot read guards nothing

    def _fetch(self, url: str, validators: dict[str, str]) -> tuple[str, dict[str, str]] | None:
        headers = {}
        if "etag" in validators:
            headers["If-None-Match"] = validators["etag"]
        if "last_modified" in validators:
            headers["If-Modified-Since"] = validators["last_modified"]
        with self.http.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return None
            response.raise_for_status()
            if response.headers.get("content-type", "").startswith("text/html"):
                raise BlocklistRefused(f"{url} answered HTML, not a hosts file")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise BlocklistRefused(f"{url} is larger than {self.max_bytes} bytes")
                chunks.append(chunk)
            kept = {
                name: response.headers[header]
                for name, header in (("etag", "etag"), ("last_modified", "last-modified"))
                if header in response.headers
            }
        try:
            return b"".join(chunks).decode("utf-8"), kept
        except UnicodeDecodeError:
            raise BlocklistRefused(f"{url} is not UTF-8 text") from None

    def _validators(self, variant: str) -> dict[str, str]:
        stored = self.redis.hgetall(self._validators_key(variant))
        return {key.decode(): value.decode() for key, value in stored.items()}  # type: ignore[union-attr]

    def _store_validators(self, variant: str, values: dict[str, str]) -> None:
        key = self._validators_key(variant)
        with self.redis.pipeline() as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=values)  # type: ignore[arg-type]
            pipe.execute()


def names_file(ordered: list[str]) -> bytes:
    """The names file: each name on its own line, each line ending in a newline (UTF-8)."""
    return "".join(f"{name}\n" for name in ordered).encode()


def sign(manifest: Manifest, key: SigningKey) -> bytes:
    body = msgspec.json.encode(manifest)
    signature = key.sign(body).signature
    envelope = SignedManifest(body=body.decode(), signature=base64.b64encode(signature).decode())
    return msgspec.json.encode(envelope)


def verify(raw: bytes, verify_key: bytes) -> Manifest:
    """Check the signature over the body's exact bytes, then decode the body (as clients do)."""
    from nacl.signing import VerifyKey

    envelope = msgspec.json.decode(raw, type=SignedManifest)
    body = envelope.body.encode()
    VerifyKey(verify_key).verify(body, base64.b64decode(envelope.signature, validate=True))
    return msgspec.json.decode(body, type=Manifest)
