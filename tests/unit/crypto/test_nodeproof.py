"""The node's proof of key possession, checked against the published vector (docs/node.md)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from phoenix.crypto import nodeproof
from phoenix.crypto.wireguard import generate_keypair, public_key

VECTOR: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[3] / "docs" / "node-proof-vector.json").read_text()
)


def raw(name: str) -> bytes:
    return base64.b64decode(VECTOR[name])


CLAIMS = nodeproof.Claims(VECTOR["location"], VECTOR["public_ip"], VECTOR["listen_port"])


def test_the_vector_verifies_and_its_transcript_is_as_published() -> None:
    node, server = raw("node_public"), raw("server_public")
    assert public_key(raw("node_private")) == node
    assert public_key(raw("server_private")) == server
    assert (
        nodeproof.transcript(raw("nonce"), server, node, CLAIMS).hex() == VECTOR["transcript_hex"]
    )
    assert nodeproof.prove(raw("node_private"), node, raw("nonce"), server, CLAIMS) == raw("mac")
    nodeproof.verify(raw("server_private"), server, node, raw("nonce"), CLAIMS, raw("mac"))


@pytest.mark.parametrize(
    "claims",
    [
        nodeproof.Claims("nl-ams", VECTOR["public_ip"], VECTOR["listen_port"]),
        nodeproof.Claims(VECTOR["location"], "203.0.114.8", VECTOR["listen_port"]),
        nodeproof.Claims(VECTOR["location"], VECTOR["public_ip"], 51821),
    ],
)
def test_any_other_claim_fails(claims: nodeproof.Claims) -> None:
    with pytest.raises(nodeproof.InvalidProof):
        nodeproof.verify(
            raw("server_private"), raw("server_public"), raw("node_public"), raw("nonce"),
            claims, raw("mac"),
        )  # fmt: skip


def test_a_proof_by_another_key_or_for_another_nonce_fails() -> None:
    other_private, _ = generate_keypair()
    forged = nodeproof.prove(
        other_private, raw("node_public"), raw("nonce"), raw("server_public"), CLAIMS
    )
    for nonce, mac in ((raw("nonce"), forged), (bytes(32), raw("mac"))):
        with pytest.raises(nodeproof.InvalidProof):
            nodeproof.verify(
                raw("server_private"), raw("server_public"), raw("node_public"), nonce, CLAIMS, mac
            )


def test_a_low_order_node_key_is_refused() -> None:
    with pytest.raises(nodeproof.InvalidProof):
        nodeproof.verify(
            raw("server_private"), raw("server_public"), bytes(32), raw("nonce"), CLAIMS, raw("mac")
        )
