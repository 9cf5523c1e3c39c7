"""The daemon's proof of key possession matches the shared test vector, byte for byte.

``docs/node-proof-vector.json`` is the contract between the daemon and the config role (which
checks the same vector with its own code): if either side drifts, one of the two tests fails.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from phoenix_node.keys import public_from_private
from phoenix_node.proof import Claims, ProofError, prove, transcript

VECTOR = Path(__file__).resolve().parents[3] / "docs" / "node-proof-vector.json"


def vector() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTOR.read_text())
    return data


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def test_the_proof_of_the_vector_is_the_vectors_mac() -> None:
    v = vector()
    private, server_key, nonce = b64(v["node_private"]), b64(v["server_public"]), b64(v["nonce"])
    node_key = public_from_private(private)
    assert node_key == b64(v["node_public"])
    claims = Claims(v["location"], v["public_ip"], v["listen_port"])
    assert transcript(nonce, server_key, node_key, claims).hex() == v["transcript_hex"]
    assert prove(private, node_key, nonce, server_key, claims) == b64(v["mac"])


def inputs() -> dict[str, Any]:
    v = vector()
    return {
        "node_key": b64(v["node_public"]),
        "nonce": b64(v["nonce"]),
        "server_key": b64(v["server_public"]),
        "location": v["location"],
        "public_ip": v["public_ip"],
        "listen_port": v["listen_port"],
    }


def mac_of(i: dict[str, Any]) -> bytes:
    claims = Claims(i["location"], i["public_ip"], i["listen_port"])
    return prove(b64(vector()["node_private"]), i["node_key"], i["nonce"], i["server_key"], claims)


OTHER_KEY = public_from_private(bytes(range(32)))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("location", "nl-ams"),
        ("public_ip", "203.0.114.8"),
        ("listen_port", 51821),
        ("nonce", bytes(range(32))),
        ("server_key", OTHER_KEY),
        ("node_key", OTHER_KEY),
    ],
    ids=["location", "public_ip", "listen_port", "nonce", "server_key", "node_key"],
)
def test_changing_any_claim_changes_the_mac(field: str, value: Any) -> None:
    assert mac_of(inputs()) == b64(vector()["mac"])
    assert mac_of({**inputs(), field: value}) != b64(vector()["mac"])


def test_a_low_order_server_key_is_refused_rather_than_answered() -> None:
    # An all-zero X25519 point makes the shared secret zero: anyone could compute that MAC.
    v = vector()
    private = b64(v["node_private"])
    claims = Claims(v["location"], v["public_ip"], v["listen_port"])
    with pytest.raises(ProofError, match="low order"):
        prove(private, public_from_private(private), b64(v["nonce"]), bytes(32), claims)


def test_a_nonce_of_the_wrong_length_is_refused() -> None:
    v = vector()
    private = b64(v["node_private"])
    claims = Claims(v["location"], v["public_ip"], v["listen_port"])
    with pytest.raises(ProofError, match="nonce"):
        prove(private, public_from_private(private), bytes(16), b64(v["server_public"]), claims)
