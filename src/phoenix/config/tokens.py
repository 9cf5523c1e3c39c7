"""Token redemption checks for the config role: the challenge we issue and the token we accept.

Pure functions over the request's Authorization value and the current issuer keys, so a test can
call them without a server. The order follows the cost of each check: decode the credentials
(RFC 9577 §2.2.2), check the token type and size, check the challenge digest is one this origin
issues, find the issuer key by id, and only then verify the RSASSA-PSS signature (RFC 9578 §6.4).
Every refusal is a 401 carrying a fresh `WWW-Authenticate: PrivateToken challenge=…,
token-key=…` so the client can fetch a new token at once (RFC 9577 §2.1).

Whether the token was spent before is the spent-token store's job (phoenix.config.spent), keyed
on `token_digest` — never on the token itself.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Collection
from typing import Final, Literal, Protocol

from phoenix.common.problems import Problem
from phoenix.config.directory import DirectoryEntry, IssuerDirectoryUnavailable
from phoenix.config.settings import ConfigSettings
from phoenix.crypto.privacypass.errors import DecodeError, InvalidToken
from phoenix.crypto.privacypass.headers import (
    PrivateTokenChallenge,
    build_www_authenticate,
    parse_authorization,
)
from phoenix.crypto.privacypass.issuance import verify_token
from phoenix.crypto.privacypass.structures import (
    NID,
    NK,
    NONCE_LEN,
    TOKEN_TYPE_BLIND_RSA,
    Token,
    TokenChallenge,
)
from phoenix.crypto.privacypass.token_key import TokenKey

__all__ = [
    "TOKEN_LEN",
    "RejectionReason",
    "TokenKeys",
    "TokenRejected",
    "accepted_digests",
    "challenge",
    "challenge_header",
    "parse_and_verify",
    "redeemable",
    "token_digest",
    "www_authenticate",
]

# token_type (2) || nonce || challenge_digest (32) || token_key_id || authenticator
TOKEN_LEN: Final = 2 + NONCE_LEN + 32 + NID + NK

RejectionReason = Literal[
    "missing", "malformed", "token-type", "length", "challenge", "unknown-key", "signature"
]

_ERROR_CODE = re.compile(r"[a-z0-9][a-z0-9_-]*")


class TokenKeys(Protocol):
    """What redemption needs of the issuer directory (IssuerDirectoryClient provides it)."""

    def ready(self) -> bool: ...

    def entry_for(self, token_key_id: bytes, now: float | None = None) -> DirectoryEntry | None: ...

    def keys(self) -> list[TokenKey]: ...

    def preferred_key(self, now: float | None = None) -> TokenKey | None: ...


class TokenRejected(Problem):
    """401: no token, or one this origin cannot accept; the header carries a fresh challenge."""

    status = 401
    slug = "invalid-token"
    title = "A valid Privacy Pass token is required"

    def __init__(self, reason: RejectionReason, detail: str, *, www_authenticate: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": www_authenticate})
        self.reason: RejectionReason = reason


# --- the challenge this origin issues (RFC 9577 §2.1.1) --------------------------------------


def challenge(settings: ConfigSettings) -> TokenChallenge:
    """Type 2, the configured issuer, no redemption context, and this origin's name.

    The redemption context is empty: tokens are fetched ahead of time and are not bound to a
    session, so any token for this origin and issuer is accepted exactly once.
    """
    return TokenChallenge(
        token_type=TOKEN_TYPE_BLIND_RSA,
        issuer_name=settings.issuer_name,
        redemption_context=b"",
        origin_info=settings.origin_name,
    )


# Both below are asked the same few questions on every redemption (a role has one challenge;
# the directory hands out the same key object until it is refreshed): answered once each.
@functools.lru_cache(maxsize=8)
def accepted_digests(*challenges: TokenChallenge) -> frozenset[bytes]:
    """The challenge digests (SHA-256 of each encoded challenge) a token may carry here."""
    return frozenset(item.digest() for item in challenges)


@functools.lru_cache(maxsize=64)
def www_authenticate(
    challenge: TokenChallenge, token_key: TokenKey | None, error: str | None = None
) -> str:
    """`PrivateToken challenge="…", token-key="…"` (RFC 9577 §2.1.2).

    `token-key` is left out only while no issuer key is known. `error` adds an `error="…"`
    parameter naming why the last token failed (as RFC 6750 §3 does for bearer tokens); RFC 9577
    clients ignore parameters they do not know.
    """
    value = build_www_authenticate(
        PrivateTokenChallenge(
            challenge=challenge.encode(),
            token_key=None if token_key is None else token_key.spki,
        )
    )
    if error is None:
        return value
    if not _ERROR_CODE.fullmatch(error):
        raise ValueError("error is a short lowercase code")
    return f'{value}, error="{error}"'


def challenge_header(
    challenge: TokenChallenge, directory: TokenKeys, error: str | None = None
) -> str:
    """The WWW-Authenticate value with the issuer's preferred key.

    That is the first listed key already in effect (RFC 9578 §4: the issuer lists its keys in
    order of preference); no `token-key` while no copy of the directory has been fetched.
    """
    return www_authenticate(challenge, directory.preferred_key(), error)


# --- redemption ------------------------------------------------------------------------------


def parse_and_verify(
    authorization: str | None,
    directory: TokenKeys,
    digests: Collection[bytes],
    challenge: TokenChallenge,
) -> Token:
    """The verified token of an `Authorization: PrivateToken token="…"` value.

    Raises TokenRejected (401, with a fresh challenge for `challenge`) for a missing or malformed
    header, bad base64url, another token type, a wrong size, a challenge digest not in `digests`,
    a key id not listed or outside its key's life, or a bad signature. Raises
    IssuerDirectoryUnavailable (503, Retry-After) for a well-formed token for this origin while
    no fresh copy of the issuer directory is held: such a token can be neither accepted nor
    refused then.
    """
    return redeemable(authorization, directory, digests, challenge)[0]


def redeemable(
    authorization: str | None,
    directory: TokenKeys,
    digests: Collection[bytes],
    challenge: TokenChallenge,
) -> tuple[Token, int]:
    """`parse_and_verify`, and when its key's life ends (Unix seconds): its mark's expiry."""

    def reject(reason: RejectionReason, detail: str) -> TokenRejected:
        error = None if reason == "missing" else "invalid-token"
        return TokenRejected(
            reason, detail, www_authenticate=challenge_header(challenge, directory, error)
        )

    if authorization is None or not authorization.strip():
        raise reject("missing", 'send Authorization: PrivateToken token="…"')
    try:
        raw = parse_authorization(authorization)
    except DecodeError as error:
        raise reject("malformed", f"malformed PrivateToken credentials: {error}") from None
    if len(raw) >= 2 and int.from_bytes(raw[:2], "big") != TOKEN_TYPE_BLIND_RSA:
        raise reject("token-type", f"only token type {TOKEN_TYPE_BLIND_RSA} is accepted")
    if len(raw) != TOKEN_LEN:
        raise reject("length", f"a type {TOKEN_TYPE_BLIND_RSA} token is {TOKEN_LEN} bytes")
    try:
        token = Token.decode(raw)
    except DecodeError as error:  # unreachable after the checks above; kept as a guard
        raise reject("malformed", f"malformed token: {error}") from None
    if token.challenge_digest not in digests:
        raise reject("challenge", "the token was issued for another challenge")
    if not directory.ready():
        raise IssuerDirectoryUnavailable("no fresh copy of the issuer's token keys")
    entry = directory.entry_for(token.token_key_id)
    if entry is None:
        raise reject("unknown-key", "the token names no key this issuer lists, or an expired one")
    try:
        verify_token(token, entry.token_key)
    except InvalidToken:
        raise reject("signature", "the token's signature does not verify") from None
    return token, entry.accepted_until


def token_digest(token: Token) -> bytes:
    """SHA-256 of the encoded token: what the spent-token store keys on (never the token)."""
    return hashlib.sha256(token.encode()).digest()
