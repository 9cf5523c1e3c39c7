"""Single-request issuance done plainly: the reference for the auth role's issuance goal.

A straightforward Litestar app on the same libraries, served the same way (granian, one worker
per core, by :mod:`bench.issuance`), doing the same work per request with one sequential await
after another: ``POST /v1/tokens`` verifies the bearer token (the benchmark's
:class:`~bench.issuance_app.StubIdentity`, as the role's figure uses), reads and decodes the
TokenRequest, takes one token of the user's quota with the role's own statement in a
transaction (``engine.begin()``, as one would write it), and blind-signs with the same key.
``GET`` of the issuer directory lists that key, so the bench verifies the answers before the
load, as it does the role's.

What it leaves out, the role does on top (and so the reference is flattered): problem
documents, the media-type checks, batches, the access log and metrics, the key's life checks
and the modulus check.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get, post

from bench.issuance_app import IDENTITIES_VARIABLE, StubIdentity
from phoenix.auth import quota
from phoenix.auth.api import DIRECTORY_PATH
from phoenix.auth.firebase import Unauthenticated, bearer_token
from phoenix.auth.issuer import RESPONSE_MEDIA_TYPE
from phoenix.auth.keys import parse_bundle
from phoenix.auth.settings import AuthSettings
from phoenix.common import database
from phoenix.crypto.blind_rsa import BlindSigningKey
from phoenix.crypto.privacypass.structures import TokenRequest
from phoenix.settings import load


def create_app() -> Litestar:
    settings = load(AuthSettings, os.environ)
    engine = database.create_engine(settings.userdb_url, pool_size=settings.userdb_pool_size)
    verifier = StubIdentity.from_json(os.environ[IDENTITIES_VARIABLE])
    key = parse_bundle(settings.issuer_signing_keys)[-1]
    signer = BlindSigningKey(key.private_key)
    listing = msgspec.json.encode(
        {
            "issuer-request-uri": settings.issuer_request_uri,
            "token-keys": [{"token-type": 2, "token-key": key.token_key.to_base64url()}],
        }
    )

    @post("/v1/tokens", status_code=200)
    async def issue(request: Request[Any, Any, Any]) -> Response[bytes]:
        try:
            identity = await verifier.verify(bearer_token(request.headers.get("authorization")))
        except Unauthenticated:
            return Response(b"", status_code=401)
        token_request = TokenRequest.decode(await request.body())
        async with engine.begin() as connection:
            decision = await quota.take_if_entitled(
                connection, identity.uid, identity.email, 1, settings.issuer_quota, time.time()
            )
        if decision is None or not decision.granted:
            return Response(b"", status_code=403)
        signature = signer.blind_sign(token_request.blinded_msg)
        return Response(signature, media_type=RESPONSE_MEDIA_TYPE)

    @get(DIRECTORY_PATH, sync_to_thread=False)
    def directory() -> Response[bytes]:
        return Response(listing, media_type="application/json")

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await engine.dispose()

    return Litestar([issue, directory], lifespan=[lifespan])
