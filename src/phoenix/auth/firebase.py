"""Who is asking: Firebase ID tokens, verified by firebase-admin with revocation checked.

Production reads the service account JSON from PHOENIX_FIREBASE_PRIVATE_KEY (…_FILE, or AWS
Secrets Manager id FIREBASE_PRIVATE_KEY). Tests and development use the Firebase Auth emulator
(FIREBASE_AUTH_EMULATOR_HOST), which the settings refuse in production: in emulator mode the
Admin SDK checks no signature.

What reaches Firebase, and when (each Identity Toolkit lookup is paid for): nothing for a request
without a well-formed bearer token, nor for a token whose signature, issuer, audience, subject or
expiry fails locally (the SDK fetches Google's signing certificates through its own HTTP cache,
honouring their Cache-Control). Only then is the user record looked up for the revocation check,
through :class:`phoenix.auth.revocation.RevocationCache`: at most once per uid per
PHOENIX_FIREBASE_REVOCATION_CACHE_SECONDS, and at most
PHOENIX_FIREBASE_REVOCATION_LOOKUPS_PER_MINUTE times per uid per minute, per process. A revoked
or disabled account is refused within 60 s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeGuard

import firebase_admin
from firebase_admin import auth, credentials, exceptions

from phoenix.auth.revocation import MISSING, LookupsExhausted, RevocationCache, Standing
from phoenix.auth.settings import AuthSettings
from phoenix.common.bearer import bearer
from phoenix.common.logging import get_logger
from phoenix.common.problems import Problem

_log = get_logger("phoenix.auth.firebase")
_app_numbers = itertools.count()
# A compact JWS (header.payload.signature, base64url) of a sane size: anything else is refused
# before the SDK parses it. Firebase ID tokens are about 1 KB (custom claims are capped at 1000
# bytes), so 8 KiB leaves room.
_COMPACT_JWS: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
MAX_TOKEN_CHARS: Final = 8192
# RFC 5321's limits (a 64-octet local part, a 255-octet domain) make 320 characters the longest
# address, and users.email holds that many: a longer claim is no address to keep. Kept, it made
# the user's row fail to write, so issuance answered 503 ("try again") for ever.
MAX_EMAIL_CHARS: Final = 320


@dataclass(frozen=True)
class Identity:
    uid: str
    email: str | None


class Unauthenticated(Problem):
    status = 401
    slug = "unauthenticated"
    title = "A valid Firebase ID token is required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="phoenix"'})


class IdentityUnavailable(Problem):
    status = 503
    slug = "identity-unavailable"
    title = "Identity provider unreachable"


class IdentityVerifier(Protocol):
    async def verify(self, id_token: str) -> Identity: ...

    async def delete_user(self, uid: str) -> None: ...

    def close(self) -> None: ...


class FirebaseVerifier:
    """``clock`` (monotonic seconds) ages cached revocation answers; tests move it."""

    def __init__(
        self, settings: AuthSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        options: dict[str, Any] = {}
        credential: credentials.Base | None = None
        if settings.firebase_private_key:
            account = json.loads(settings.firebase_private_key)
            credential = credentials.Certificate(account)
            options["projectId"] = settings.firebase_project_id or account.get("project_id")
        else:
            options["projectId"] = settings.firebase_project_id
        # A named app per verifier: no process-global default app to collide with.
        self._app = firebase_admin.initialize_app(
            credential, options, name=f"phoenix-auth-{next(_app_numbers)}"
        )
        self._revocations = RevocationCache(
            self._lookup,
            fresh_for=settings.firebase_revocation_cache_seconds,
            lookups_per_minute=settings.firebase_revocation_lookups_per_minute,
            clock=clock,
        )

    @property
    def app(self) -> firebase_admin.App:
        return self._app

    async def verify(self, id_token: str) -> Identity:
        # The SDK blocks (a certificate fetch, through its own cache): keep it off the loop.
        claims = await asyncio.to_thread(self._verify_locally, id_token)
        uid = str(claims["uid"])
        # Only a token that checked locally costs a lookup, and then at most one per uid per
        # cache period: the revocation check is ours, not the SDK's check_revoked (one lookup
        # per call).
        try:
            standing = await self._revocations.standing(uid)
        except LookupsExhausted as spent:
            raise IdentityUnavailable(
                "too many account checks for this user; retry later",
                headers={"Retry-After": str(spent.retry_after)},
            ) from None
        refusal = standing.refusal(float(claims["iat"]))
        if refusal:
            raise Unauthenticated(refusal)
        return Identity(uid=uid, email=_address(claims.get("email")))

    def _verify_locally(self, id_token: str) -> dict[str, Any]:
        """Signature, issuer, audience, subject and expiry: no user lookup happens here."""
        try:
            claims: dict[str, Any] = auth.verify_id_token(id_token, app=self._app)
        except auth.CertificateFetchError:
            raise IdentityUnavailable("could not fetch Firebase's signing certificates") from None
        except auth.ExpiredIdTokenError:
            raise Unauthenticated("the ID token expired") from None
        except (auth.InvalidIdTokenError, ValueError):
            raise Unauthenticated("the ID token is not valid") from None
        # Checked again here because the SDK's emulator mode skips them (and a token that fails
        # them must not cost a lookup there either).
        issued_at, expires = claims.get("iat"), claims.get("exp")
        if not (_is_epoch(issued_at) and _is_epoch(expires)):
            raise Unauthenticated("the ID token is not valid")
        if expires < time.time():
            raise Unauthenticated("the ID token expired")
        return claims

    async def _lookup(self, uid: str) -> Standing:
        return await asyncio.to_thread(self._get_standing, uid)

    def _get_standing(self, uid: str) -> Standing:
        try:
            user = auth.get_user(uid, app=self._app)
        except auth.UserNotFoundError:
            return MISSING
        except exceptions.FirebaseError:
            raise IdentityUnavailable("could not check the account with Firebase") from None
        return Standing(
            exists=True,
            disabled=bool(user.disabled),
            valid_after_ms=int(user.tokens_valid_after_timestamp or 0),
        )

    async def delete_user(self, uid: str) -> None:
        """Delete the Firebase account; one already gone is fine (deletion is retried)."""
        await asyncio.to_thread(self._delete_user, uid)
        # Its tokens stop working here at once, not when the cached answer ages out.
        self._revocations.remember(uid, MISSING)

    def _delete_user(self, uid: str) -> None:
        try:
            auth.delete_user(uid, app=self._app)
        except auth.UserNotFoundError:
            return
        except exceptions.FirebaseError:
            raise IdentityUnavailable("could not delete the Firebase account") from None

    def close(self) -> None:
        firebase_admin.delete_app(self._app)


def _is_epoch(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def bearer_token(authorization: str | None) -> str:
    """The ID token of ``Authorization: Bearer <token>``; refused here, before any Firebase
    work, unless it has the shape of a compact JWS."""
    if not authorization:
        raise Unauthenticated("missing Authorization: Bearer <Firebase ID token>")
    token = bearer(authorization)
    if token is None:
        raise Unauthenticated("the Authorization header is not a Bearer token")
    if len(token) > MAX_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
        raise Unauthenticated("the bearer token is not a Firebase ID token")
    return token


def _address(claim: Any) -> str | None:
    """The email claim, if it can be an address."""
    if not isinstance(claim, str) or not claim:
        return None
    if len(claim) > MAX_EMAIL_CHARS:
        _log.info("email_claim_not_kept", chars=len(claim))  # never the value
        return None
    return claim
