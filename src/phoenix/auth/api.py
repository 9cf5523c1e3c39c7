"""The auth role's HTTP surface: the issuer directory and token issuance (RFC 9578 §4, §6).

The handlers receive the issuer and the identity verifier by dependency injection; only where
issuance is served (the advertised request URI) and its body limit come from the policy."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import SkipValidation

from phoenix.auth import metrics
from phoenix.auth.firebase import (
    IdentityUnavailable,
    IdentityVerifier,
    Unauthenticated,
    bearer_token,
)
from phoenix.auth.issuer import (
    DIRECTORY_MEDIA_TYPE,
    REQUEST_MEDIA_TYPE,
    RESPONSE_MEDIA_TYPE,
    Issuer,
    IssuerPolicy,
    NotEntitled,
    QuotaExhausted,
    UnprocessableTokenRequest,
)
from phoenix.common.bodies import UnsupportedBodyType
from phoenix.common.database import DatabaseUnavailable
from phoenix.common.openapi import NOT_MODIFIED, bytes_body, problem_answers
from phoenix.crypto import batch
from phoenix.crypto.privacypass.errors import DecodeError
from phoenix.crypto.privacypass.structures import TokenRequest

DIRECTORY_PATH = "/.well-known/private-token-issuer-directory"
# The largest body issuance accepts: a full batch of 1024 requests and its length prefix.
MAX_REQUEST_BYTES = 1024 * 259 + 8
# A Protocol (Firebase, or a benchmark's stand-in) that Litestar cannot validate an instance of.
Verifier = NamedDependency[SkipValidation[IdentityVerifier]]


def _media_type(request: Request[Any, Any, Any]) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


@get(
    DIRECTORY_PATH,
    summary="Privacy Pass issuer directory (RFC 9578 §4)",
    tags=["issuer"],
    media_type=DIRECTORY_MEDIA_TYPE,  # documented as served, not as application/json
    responses={304: NOT_MODIFIED},
)
async def directory(
    request: Request[Any, Any, Any], issuer: NamedDependency[Issuer]
) -> Response[bytes]:
    current = issuer.directory()
    headers = {
        "ETag": current.etag,
        "Cache-Control": f"public, max-age={issuer.policy.directory_max_age}",
    }
    if current.etag in request.headers.get("if-none-match", ""):
        return Response(b"", status_code=304, headers=headers)
    return Response(current.body, media_type=DIRECTORY_MEDIA_TYPE, headers=headers)


async def issue(
    request: Request[Any, Any, Any],
    issuer: NamedDependency[Issuer],
    verifier: Verifier,
) -> Response[bytes]:
    """Blind signatures for one TokenRequest or a batch; routed by :func:`issuance_route`."""
    with metrics.counting_issuance() as signed:
        media_type = _media_type(request)
        if media_type not in (REQUEST_MEDIA_TYPE, batch.REQUEST_MEDIA_TYPE):
            raise UnsupportedBodyType(f"send {REQUEST_MEDIA_TYPE} or {batch.REQUEST_MEDIA_TYPE}")
        identity = await verifier.verify(bearer_token(request.headers.get("authorization")))
        body = await request.body()
        try:
            if media_type == REQUEST_MEDIA_TYPE:
                requests = [TokenRequest.decode(body)]
            else:
                requests = batch.decode_batch_request(body, issuer.policy.max_batch)
        except DecodeError as error:
            raise UnprocessableTokenRequest(str(error)) from None
        signatures = await issuer.issue(identity, requests)
        signed.append(len(signatures))
    if media_type == REQUEST_MEDIA_TYPE:
        return Response(signatures[0], media_type=RESPONSE_MEDIA_TYPE)
    return Response(batch.encode_batch_response(signatures), media_type=batch.RESPONSE_MEDIA_TYPE)


def issuance_route(policy: IssuerPolicy) -> HTTPRouteHandler:
    """:func:`issue` where the directory advertises it, with a batch of ``max_batch`` as limit."""
    return post(
        urlsplit(policy.request_uri).path or "/v1/tokens",
        summary="Issue blind signatures for token requests (RFC 9578 §6, batched draft §6)",
        tags=["issuer"],
        status_code=200,
        request_max_body_size=min(MAX_REQUEST_BYTES, policy.max_batch * 259 + 8),
        operation_class=bytes_body(
            (REQUEST_MEDIA_TYPE, batch.REQUEST_MEDIA_TYPE),
            "One TokenRequest, or a batch of them (RFC 9578 §6, batched tokens draft §6)",
            answers=(RESPONSE_MEDIA_TYPE, batch.RESPONSE_MEDIA_TYPE),
        ),
        responses=problem_answers(
            UnsupportedBodyType,
            Unauthenticated,
            NotEntitled,
            413,
            UnprocessableTokenRequest,
            QuotaExhausted,
            IdentityUnavailable,
            DatabaseUnavailable,
        ),
    )(issue)
