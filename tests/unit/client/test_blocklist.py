"""The client's blocklist reader: the golden vectors of docs/bloom-format.md, and the manifest's
signature refused when anything in it changes."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from phoenix.client.blocklist import BadFilter, Filter, normalise, suffixes, verify_manifest
from phoenix.client.endpoints import DEV_BLOCKLIST_KEY
from phoenix.client.errors import EXIT_USAGE, ClientError
from phoenix.dev.environment import DEV_ENV

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[3] / "docs" / "bloom-golden-vectors.json").read_text()
)
DEV_SEED = DEV_ENV["PHOENIX_BLOCKLIST_SIGNING_KEY"]


def golden() -> bytes:
    return base64.b64decode(VECTORS["filter_base64"])


def raw_public(key: Ed25519PrivateKey) -> str:
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(public).decode()


def manifest(key: Ed25519PrivateKey, body: dict[str, Any]) -> bytes:
    text = json.dumps(body, separators=(",", ":"))
    signature = base64.b64encode(key.sign(text.encode())).decode()
    return json.dumps({"body": text, "signature": signature}).encode()


@pytest.mark.parametrize(("typed", "expected"), VECTORS["lookups"])
def test_every_golden_lookup_answers_as_the_format_says(typed: str, expected: bool) -> None:
    bloom = Filter.parse(golden())
    assert (normalise(typed).encode() in bloom) is expected


def test_the_golden_indices_are_computed_exactly() -> None:
    bloom = Filter.parse(golden())
    assert (bloom.m, bloom.k) == (VECTORS["m"], VECTORS["k"])
    for normalised, indices in VECTORS["indices"]:
        assert bloom.indices(normalised.encode()) == indices


def test_a_filter_of_another_size_version_or_magic_is_refused() -> None:
    data = golden()
    for damaged in (data[:-1], data + b"\0", b"XXXX" + data[4:], data[:4] + b"\x02" + data[5:]):
        with pytest.raises(BadFilter):
            Filter.parse(damaged)


def test_names_are_normalised_and_parents_looked_up() -> None:
    assert normalise(" Ads.Example.COM. ") == "ads.example.com"
    assert normalise("Bücher.example") == "xn--bcher-kva.example"
    assert normalise("ad_server.example") == "ad_server.example"
    assert suffixes("a.b.example.com") == ["a.b.example.com", "b.example.com", "example.com"]
    with pytest.raises(ClientError) as refused:
        normalise(" . ")
    assert refused.value.exit_code == EXIT_USAGE


def test_a_manifest_verifies_only_under_its_key_and_unchanged() -> None:
    key = Ed25519PrivateKey.generate()
    body = {"format": 1, "sha256": "00" * 32, "m": 8, "k": 1, "filter": "filters/x.bloom"}
    assert verify_manifest(manifest(key, body), raw_public(key)) == body
    with pytest.raises(BadFilter, match="does not verify"):
        verify_manifest(manifest(Ed25519PrivateKey.generate(), body), raw_public(key))
    tampered = json.loads(manifest(key, body))
    tampered["body"] = tampered["body"].replace('"k":1', '"k":2')
    with pytest.raises(BadFilter, match="does not verify"):
        verify_manifest(json.dumps(tampered).encode(), raw_public(key))
    with pytest.raises(BadFilter, match="malformed"):
        verify_manifest(b"{}", raw_public(key))
    newer = manifest(key, {**body, "format": 2})
    with pytest.raises(BadFilter, match="format 1"):
        verify_manifest(newer, raw_public(key))


def test_the_shipped_development_key_is_that_of_make_devs_seed() -> None:
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(DEV_SEED))
    assert raw_public(key) == DEV_BLOCKLIST_KEY
