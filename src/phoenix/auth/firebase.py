"""Who is asking: Firebase ID tokens, verified by firebase-admin with revocation checked.

Production reads the service account JSON from PHOENIX_FIREBASE_PRIVATE_KEY (…_FILE, or AWS
Secrets Manager id FIREBASE_PRIVATE_KEY). Tests and development use the Firebase Auth emulator
(FIREBASE_AUTH_EMULATOR_HOST), which the settings refuse in production: in emulator mode the
Admin SDK checks no signature.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

import firebase_admin
from firebase_admin import auth, credentials, exceptions

from phoenix.auth.settings import AuthSettings
from phoenix.common.problems import Problem

_app_numbers = itertools.count()


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
    def __init__(self, settings: AuthSettings) -> None:
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

    @property
    def app(self) -> firebase_admin.App:
        return self._app

    async def verify(self, id_token: str) -> Identity:
        # The SDK blocks (certificate fetch, revocation lookup): keep it off the event loop.
        return await asyncio.to_thread(self._verify, id_token)

    def _verify(self, id_token: str) -> Identity:
        try:
            claims = auth.verify_id_token(id_token, app=self._app, check_revoked=True)
        except auth.CertificateFetchError:
            raise IdentityUnavailable("could not fetch Firebase's signing certificates") from None
        except auth.RevokedIdTokenError:
            raise Unauthenticated("the ID token was revoked") from None
        except auth.UserDisabledError:
            raise Unauthenticated("the account is disabled") from None
        except auth.UserNotFoundError:
            raise Unauthenticated("the account does not exist") from None
        except auth.ExpiredIdTokenError:
            raise Unauthenticated("the ID token expired") from None
        except (auth.InvalidIdTokenError, ValueError):
            raise Unauthenticated("the ID token is not valid") from None
        # Checked again here because the SDK's emulator mode skips it.
        if float(claims.get("exp", 0)) < time.time():
            raise Unauthenticated("the ID token expired")
        email = claims.get("email")
        return Identity(uid=str(claims["uid"]), email=str(email) if email else None)

    async def delete_user(self, uid: str) -> None:
        """Delete the Firebase account; one already gone is fine (deletion is retried)."""
        await asyncio.to_thread(self._delete_user, uid)

    def _delete_user(self, uid: str) -> None:
        try:
            auth.delete_user(uid, app=self._app)
        except auth.UserNotFoundError:
            return
        except exceptions.FirebaseError:
            raise IdentityUnavailable("could not delete the Firebase account") from None

    def close(self) -> None:
        firebase_admin.delete_app(self._app)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("missing Authorization: Bearer <Firebase ID token>")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthenticated("the Authorization header is not a Bearer token")
    return token
