"""The AWS instance identity, read through IMDSv2 as an EC2 instance reads it.

AWS cannot run here, so the instance metadata service is the stub HTTP server of
``stub_http.py`` on 127.0.0.1 (``imdsv2``) — the one stand-in of this file. It behaves as an
IMDSv2-only instance does: a session token only for a ``PUT`` with a TTL header, and 401 for any
``GET`` without that token (a test below checks that it does refuse).
"""

from __future__ import annotations

import base64
import json
import socket

import msgspec
import pytest

from node_harness.stub_http import IMDS_TOKEN, Answer, Route, imdsv2, serve
from phoenix_node.api import Attestation
from phoenix_node.attestation import AttestationError, fetch

DOCUMENT = (
    json.dumps(
        {
            "accountId": "123456789012",
            "instanceId": "i-0123456789abcdef0",
            "region": "eu-central-1",
            "pendingTime": "2024-05-01T10:00:00Z",
        },
        indent=2,
    ).encode()
    + b"\n"
)
SIGNATURE = "dGhpcyBpcyBub3QgYSByZWFs\nIHNpZ25hdHVyZSBidXQgaXQg\naGFzIHRoZSBzaGFwZQ==\n"


def imds(document: bytes = DOCUMENT) -> dict[tuple[str, str], Route]:
    return imdsv2(document, SIGNATURE)


async def test_the_document_bytes_and_the_signature_on_one_line_are_fetched_with_a_token() -> None:
    with serve(imds()) as stub:
        found = await fetch(stub.url)
    assert found.document == DOCUMENT  # exact bytes: a re-serialised document would not verify
    assert found.signature == "".join(SIGNATURE.split())
    [put, *gets] = stub.seen
    assert (put.method, put.headers["x-aws-ec2-metadata-token-ttl-seconds"]) == ("PUT", "60")
    assert [(g.method, g.headers["x-aws-ec2-metadata-token"]) for g in gets] == [
        ("GET", IMDS_TOKEN)
    ] * 2
    # On the wire the document is standard base64 of those bytes.
    wire = json.loads(msgspec.json.encode(found))
    assert base64.b64decode(wire["document"], validate=True) == DOCUMENT
    assert msgspec.json.decode(msgspec.json.encode(found), type=Attestation) == found


async def test_the_stub_refuses_a_get_without_the_token_as_imdsv2_does() -> None:
    # The stand-in is only worth something if it refuses what a real IMDSv2 refuses.
    import httpcore

    with serve(imds()) as stub:
        async with httpcore.AsyncConnectionPool() as pool:
            answer = await pool.request(
                "GET", stub.url + "/latest/dynamic/instance-identity/document"
            )
    assert answer.status == 401


async def test_an_imds_that_refuses_the_token_is_a_clear_error() -> None:
    routes = imds()
    routes[("PUT", "/latest/api/token")] = lambda request: Answer(403)  # IMDS disabled
    with serve(routes) as stub, pytest.raises(AttestationError, match="api/token: HTTP 403"):
        await fetch(stub.url)


async def test_an_empty_document_is_refused_rather_than_sent() -> None:
    with serve(imds(document=b"")) as stub, pytest.raises(AttestationError, match="empty"):
        await fetch(stub.url)


async def test_no_imds_at_all_is_a_clear_error_and_quick() -> None:
    with socket.socket() as closed:  # a port nobody listens on: not an EC2 instance
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(AttestationError, match="IMDS /latest/api/token: ConnectError"):
        await fetch(f"http://127.0.0.1:{port}", seconds=1.0)
