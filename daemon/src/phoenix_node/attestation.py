"""AWS instance identity through IMDSv2: the signed document that says which instance this is.

With ``PHOENIX_NODE_ATTESTATION=aws`` a node registers without any secret in its user data: AWS
signs a document naming the account, region and instance, and the config role checks that
signature. IMDSv2 only: a session token first (a ``PUT``, which a request forged through an
open proxy or an SSRF cannot make), then the document and its signature with that token.
"""

from __future__ import annotations

from typing import Final

import httpcore

from phoenix_node.api import NETWORK_ERRORS, Attestation

TOKEN_TTL_SECONDS: Final = 60  # the token is used at once; a short life is all it needs
DOCUMENT: Final = "/latest/dynamic/instance-identity/document"
SIGNATURE: Final = "/latest/dynamic/instance-identity/signature"


class AttestationError(Exception):
    """IMDS gave no instance identity; the agent retries as for an unreachable API."""


async def fetch(imds_url: str, seconds: float = 2.0) -> Attestation:
    """The instance identity document (exact bytes) and its signature (whitespace removed).

    ``seconds`` bounds each step: IMDS answers on a link-local address in about a millisecond,
    so a long wait would only delay the retry.
    """
    base = imds_url.rstrip("/")
    extensions = {"timeout": dict.fromkeys(("connect", "read", "write", "pool"), seconds)}
    async with httpcore.AsyncConnectionPool(max_connections=1) as pool:

        async def ask(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> bytes:
            try:
                answer = await pool.request(
                    method, base + path, headers=headers, extensions=extensions
                )
            except NETWORK_ERRORS as error:
                raise AttestationError(f"IMDS {path}: {type(error).__name__}") from None
            if answer.status != 200:
                raise AttestationError(f"IMDS {path}: HTTP {answer.status}")
            return answer.content

        token = await ask(
            "PUT",
            "/latest/api/token",
            [(b"x-aws-ec2-metadata-token-ttl-seconds", str(TOKEN_TTL_SECONDS).encode())],
        )
        with_token = [(b"x-aws-ec2-metadata-token", token.strip())]
        document = await ask("GET", DOCUMENT, with_token)
        signature = await ask("GET", SIGNATURE, with_token)
    # IMDS wraps the base64 signature over several lines; the wire form is one line.
    text = "".join(signature.decode("ascii", errors="replace").split())
    if not document or not text:
        raise AttestationError("IMDS gave an empty instance identity document or signature")
    return Attestation(document=document, signature=text)
