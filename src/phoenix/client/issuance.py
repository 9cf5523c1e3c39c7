"""`tokens fetch`: RFC 9578 issuance of type-2 tokens, batched, into the local wallet.

The challenge comes from the config role (`/v1/token-challenge`), the key from the auth role's
issuer directory; the client refuses to go on when config names a key the issuer does not list.
Each token is finalised — its signature checked — before it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import httpx

from phoenix.client.account import authorized
from phoenix.client.endpoints import Endpoints, call
from phoenix.client.errors import ClientError
from phoenix.client.wallet import StoredToken, load_wallet, save_wallet
from phoenix.crypto import batch
from phoenix.crypto.privacypass.base64url import b64url_decode, b64url_encode
from phoenix.crypto.privacypass.errors import DecodeError, InvalidToken
from phoenix.crypto.privacypass.issuance import build_token_request, finalize_token
from phoenix.crypto.privacypass.structures import (
    TOKEN_TYPE_BLIND_RSA,
    TokenChallenge,
    TokenResponse,
)
from phoenix.crypto.privacypass.token_key import TokenKey

DIRECTORY_PATH: Final = "/.well-known/private-token-issuer-directory"
MAX_BATCH: Final = 32  # the issuer's default PHOENIX_ISSUER_MAX_BATCH


@dataclass(frozen=True)
class Challenge:
    encoded: bytes
    token_key: TokenKey


def _json(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ClientError(f"{what} answered something that is not JSON") from None


def challenge(http: httpx.Client, endpoints: Endpoints) -> Challenge:
    """The challenge config accepts, and the issuer key to answer it with."""
    offered = _json(call(http, "config", "GET", endpoints.config + "/v1/token-challenge"), "config")
    directory = _json(call(http, "auth", "GET", endpoints.auth + DIRECTORY_PATH), "auth")
    try:
        entry = next(c for c in offered["challenges"] if c["token_type"] == TOKEN_TYPE_BLIND_RSA)
        encoded = b64url_decode(entry["challenge"])
        TokenChallenge.decode(encoded)
        listed = [
            k["token-key"]
            for k in directory["token-keys"]
            if k.get("token-type") == TOKEN_TYPE_BLIND_RSA
        ]
    except (KeyError, TypeError, StopIteration, DecodeError) as error:
        raise ClientError(f"config or auth answered an unexpected document ({error})") from None
    wanted = entry.get("token_key") or (listed[0] if listed else None)
    if wanted is None or wanted not in listed:
        raise ClientError("config asks for a token key the issuer does not list: try again later")
    try:
        return Challenge(encoded, TokenKey.from_base64url(wanted))
    except (DecodeError, ValueError) as error:
        raise ClientError(f"the issuer's token key cannot be read ({error})") from None


def fetch(http: httpx.Client, endpoints: Endpoints, count: int, batch_size: int) -> int:
    """Fetch `count` tokens, `batch_size` per request; returns how many the wallet now holds."""
    wanted = challenge(http, endpoints)
    kept = 0
    while kept < count:
        size = min(batch_size, count - kept)
        requests, states = zip(
            *(build_token_request(wanted.encoded, wanted.token_key) for _ in range(size)),
            strict=True,
        )
        answer = authorized(
            http,
            endpoints,
            "POST",
            "/v1/tokens",
            content=batch.encode_batch_request(requests),
            headers={"content-type": batch.REQUEST_MEDIA_TYPE},
        )
        try:
            signatures = batch.decode_batch_response(answer.content)
        except DecodeError as error:
            raise ClientError(f"auth answered a malformed batch ({error})") from None
        if len(signatures) != size or any(s is None for s in signatures):
            raise ClientError("auth answered a batch with tokens missing")
        made = []
        for signature, state in zip(signatures, states, strict=True):
            assert signature is not None
            try:
                token = finalize_token(TokenResponse(signature), state)
            except (InvalidToken, ValueError):
                raise ClientError("auth answered a signature that does not verify") from None
            made.append(StoredToken(b64url_encode(token.encode()), b64url_encode(wanted.encoded)))
        wallet = load_wallet(endpoints.home)  # saved after every batch: nothing paid for is lost
        wallet.tokens.extend(made)
        save_wallet(endpoints.home, wallet)
        kept += size
    return len(load_wallet(endpoints.home).tokens)
