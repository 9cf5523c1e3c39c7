"""The Privacy Pass issuer (RFC 9578, token type 0x0002): directory and blind issuance.

What it keeps per user is only the hourly quota counter: no blinded message, signature, token
or key choice is stored or logged, so issuance cannot be linked to a later redemption.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.auth import quota
from phoenix.auth.firebase import Identity
from phoenix.auth.keys import KeyLife, SigningKey, listed_keys, signing_key
from phoenix.auth.quota_group import GroupedQuota
from phoenix.common.problems import Problem
from phoenix.crypto.blind_rsa import BlindSigningKey
from phoenix.crypto.privacypass.structures import TOKEN_TYPE_BLIND_RSA, TokenRequest
from phoenix.crypto.privacypass.token_key import TokenKey

DIRECTORY_MEDIA_TYPE = "application/private-token-issuer-directory"
REQUEST_MEDIA_TYPE = "application/private-token-request"
RESPONSE_MEDIA_TYPE = "application/private-token-response"


class UnprocessableTokenRequest(Problem):
    status = 422
    slug = "unprocessable-token-request"
    title = "Token request cannot be processed"


class NotEntitled(Problem):
    status = 403
    slug = "not-entitled"
    title = "No active subscription"


class NoSigningKey(Problem):
    """503: every key is past its signing life (PHOENIX_ISSUER_KEY_MAX_AGE): rotate one in."""

    status = 503
    slug = "issuer-key-expired"
    title = "The issuer has no key it may sign with"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "300"})


class QuotaExhausted(Problem):
    status = 429
    slug = "issuance-quota-exhausted"
    title = "Token quota for the last 24 hours is used up"


class DirectoryKey(msgspec.Struct, rename="kebab"):
    token_type: int
    token_key: str
    not_before: int


class DirectoryDocument(msgspec.Struct, rename="kebab"):
    issuer_request_uri: str
    token_keys: list[DirectoryKey]


@dataclass(frozen=True)
class Directory:
    body: bytes
    etag: str


@dataclass(frozen=True)
class _Prepared:
    token_key: TokenKey
    signer: BlindSigningKey
    not_before: datetime


@dataclass(frozen=True)
class IssuerPolicy:
    request_uri: str
    life: KeyLife
    quota: int
    max_batch: int
    directory_max_age: int


class Issuer:
    def __init__(
        self,
        keys: Sequence[SigningKey],
        policy: IssuerPolicy,
        engine: AsyncEngine,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = list(keys)
        self._policy = policy
        # Concurrent issuances' quota takes share one statement (phoenix.auth.quota_group).
        self._quota = GroupedQuota(engine, policy.quota)
        self._clock = clock
        # BlindSign precomputes CRT values: prepare every key once, not per request.
        self._prepared = {
            key.truncated_id: _Prepared(
                key.token_key, BlindSigningKey(key.private_key), key.not_before
            )
            for key in keys
        }

    @property
    def policy(self) -> IssuerPolicy:
        return self._policy

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def directory(self) -> Directory:
        listed = listed_keys(self._keys, self.now(), self._policy.life)
        document = DirectoryDocument(
            issuer_request_uri=self._policy.request_uri,
            token_keys=[
                DirectoryKey(
                    token_type=TOKEN_TYPE_BLIND_RSA,
                    token_key=key.token_key.to_base64url(),
                    not_before=int(key.not_before.timestamp()),
                )
                for key in listed
            ],
        )
        body = msgspec.json.encode(document)
        return Directory(body=body, etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    def signing_key(self) -> SigningKey | None:
        """The key that signs now, or None when every key is past its signing life."""
        return signing_key(self._keys, self.now(), self._policy.life)

    async def probe(self) -> None:
        """Readiness (phoenix.common.health): raises while no key may sign."""
        if self.signing_key() is None:
            raise NoSigningKey("no issuer key within PHOENIX_ISSUER_KEY_MAX_AGE: rotate one in")

    def _signer(self, request: TokenRequest) -> _Prepared:
        now = self.now()
        listed = {key.truncated_id for key in listed_keys(self._keys, now, self._policy.life)}
        prepared = self._prepared.get(request.truncated_token_key_id)
        if (
            prepared is None
            or request.truncated_token_key_id not in listed
            or prepared.not_before > now
        ):
            raise UnprocessableTokenRequest("unknown or inactive truncated token key id")
        if now >= prepared.not_before + self._policy.life.max_age:
            # Listed for the overlap so its tokens still redeem, but past its signing life.
            if self.signing_key() is None:
                raise NoSigningKey("every issuer key is past PHOENIX_ISSUER_KEY_MAX_AGE")
            raise UnprocessableTokenRequest("this key no longer signs: fetch the directory")
        # RFC 9474 §4.3: the blinded message must be below the modulus.
        modulus = prepared.token_key.public_key.public_numbers().n
        if int.from_bytes(request.blinded_msg, "big") >= modulus:
            raise UnprocessableTokenRequest("blinded_msg is not below the key's modulus")
        return prepared

    async def issue(self, identity: Identity, requests: Sequence[TokenRequest]) -> list[bytes]:
        """Blind signatures for ``requests``, all or none, counted against the quota."""
        if len(requests) > self._policy.max_batch:
            raise UnprocessableTokenRequest(f"at most {self._policy.max_batch} tokens at once")
        signers = [self._signer(request) for request in requests]
        decision = await self._quota.take_if_entitled(
            identity.uid, identity.email, len(requests), self._clock()
        )
        if decision is None:
            raise NotEntitled("this account has no active subscription")
        if not decision.granted:
            retry = decision.retry_after or quota.BUCKETS * quota.SECONDS_PER_HOUR
            raise QuotaExhausted(
                f"at most {decision.limit} tokens per 24 hours",
                headers={"Retry-After": str(retry)},
            )
        return [
            prepared.signer.blind_sign(request.blinded_msg)
            for prepared, request in zip(signers, requests, strict=True)
        ]
