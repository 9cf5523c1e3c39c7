"""What a node accepts as a blocklist manifest: one signed by the worker's key, for its variant,
naming a names file. The worker's own signing code makes the manifests here."""

from __future__ import annotations

import hashlib

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.signing import SigningKey

from phoenix.worker.blocklist import sign
from phoenix.worker.schemas import MANIFEST_FORMAT, Manifest
from phoenix_node.blocklist import BlocklistError, verify_manifest

NAMES = b"ads.example.com\ndoubleclick.net\n"
DIGEST = hashlib.sha256(NAMES).hexdigest()


def manifest(key: SigningKey, variant: str = "base", **changes: object) -> bytes:
    fields: dict[str, object] = {
        "format": MANIFEST_FORMAT,
        "sha256": "0" * 64,
        "n": 2,
        "p": 1e-6,
        "m": 64,
        "k": 20,
        "built_hour": "2026-12-05T12:00:00Z",
        "filter": f"filters/{'0' * 64}.bloom",
        "variant": variant,
        "names": f"names/{DIGEST}.txt",
        "names_sha256": DIGEST,
        **changes,
    }
    return sign(msgspec.convert(fields, Manifest), key)


def public(key: SigningKey) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(bytes(key.verify_key))


def test_a_manifest_signed_by_the_key_is_taken_for_its_variant() -> None:
    key = SigningKey.generate()
    taken = verify_manifest(manifest(key), public(key), "base")
    assert (taken.names, taken.names_sha256) == (f"names/{DIGEST}.txt", DIGEST)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (lambda key: manifest(SigningKey.generate()), "not signed"),
        (lambda key: manifest(key).replace(b"T12:00", b"T13:00"), "not signed"),
        (lambda key: manifest(key, variant="social"), "is for 'social'"),
        (lambda key: manifest(key, names=None, names_sha256=None), "no names file"),
        (lambda key: b"<html>", "not signed"),
    ],
    ids=["other-key", "altered", "other-variant", "older-worker", "not-json"],
)
def test_anything_else_is_refused(raw: object, reason: str) -> None:
    key = SigningKey.generate()
    with pytest.raises(BlocklistError, match=reason):
        verify_manifest(raw(key), public(key), "base")  # type: ignore[operator]
