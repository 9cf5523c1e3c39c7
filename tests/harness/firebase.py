"""The real Firebase Auth emulator (phoenix.dev.emulator, the one `phoenix dev up` runs), with
REST helpers for the tests.

``FirebaseAuthEmulator`` speaks the emulator's Identity Toolkit API: ``accounts:signUp`` /
``accounts:signInWithPassword`` with any API key, as a browser would, and the admin operations
(disable, revoke, delete) with ``Authorization: Bearer owner``, which the emulator accepts in
place of Google credentials.

Know this when testing against it: the emulator's ID tokens are unsigned (``alg: none``), and
firebase-admin skips the signature and expiry checks whenever ``FIREBASE_AUTH_EMULATOR_HOST`` is
set. Only ``aud``/``iss``/``sub`` and, with ``check_revoked=True``, the user record (exists, not
disabled, ``iat`` not before ``tokensValidAfterTime``) are checked against the emulator.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from phoenix.dev.emulator import AuthEmulator

API_KEY = "fake-api-key"  # the emulator accepts any key
ADMIN_HEADERS = {"Authorization": "Bearer owner"}  # the emulator's stand-in for an admin token
IDENTITY_TOOLKIT = "/identitytoolkit.googleapis.com/v1"
SECURE_TOKEN = "/securetoken.googleapis.com/v1"


class EmulatorError(RuntimeError):
    """The emulator refused a request; ``message`` is its error code, e.g. ``USER_DISABLED``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class EmulatorUser:
    uid: str
    email: str
    password: str
    id_token: str
    refresh_token: str


def token_claims(id_token: str) -> dict[str, Any]:
    """The payload of a JWT, not verified (for reading ``iat``, ``exp``, ``auth_time``)."""
    payload = id_token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def forge_token(id_token: str, **changes: Any) -> str:
    """The same token with payload claims changed (signature part kept as it was)."""
    header, _, signature = id_token.split(".")
    claims = {**token_claims(id_token), **changes}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def _error_message(response: httpx.Response) -> str:
    """``{"error": {"message": "USER_DISABLED", ...}}`` -> ``USER_DISABLED``."""
    try:
        error = response.json().get("error", {})
    except ValueError:
        return response.text
    message = error.get("message", response.text) if isinstance(error, dict) else error
    return str(message)


class FirebaseAuthEmulator(AuthEmulator):
    """The Auth emulator process, and its REST API as the tests use it."""

    _client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.base_url, timeout=10, trust_env=False)
        return self._client

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        super().stop()

    def _post(self, path: str, body: dict[str, Any], *, admin: bool = False) -> dict[str, Any]:
        response = self.client.post(
            path,
            params=None if admin else {"key": API_KEY},
            json=body,
            headers=ADMIN_HEADERS if admin else None,
        )
        if response.status_code != 200:
            raise EmulatorError(response.status_code, _error_message(response))
        data: dict[str, Any] = response.json()
        return data

    def _admin(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        path = f"{IDENTITY_TOOLKIT}/projects/{self.project_id}/accounts:{operation}"
        return self._post(path, body, admin=True)

    @staticmethod
    def unique_email() -> str:
        return f"user-{uuid.uuid4().hex}@example.com"

    def sign_up(self, email: str | None = None, password: str | None = None) -> EmulatorUser:
        """A new email+password user, signed in, as the client SDK would create it."""
        email = email or self.unique_email()
        password = password or secrets.token_urlsafe(12)
        data = self._post(
            f"{IDENTITY_TOOLKIT}/accounts:signUp",
            {"email": email, "password": password, "returnSecureToken": True},
        )
        return EmulatorUser(data["localId"], email, password, data["idToken"], data["refreshToken"])

    def sign_in(self, email: str, password: str) -> EmulatorUser:
        data = self._post(
            f"{IDENTITY_TOOLKIT}/accounts:signInWithPassword",
            {"email": email, "password": password, "returnSecureToken": True},
        )
        return EmulatorUser(data["localId"], email, password, data["idToken"], data["refreshToken"])

    def refresh(self, refresh_token: str) -> tuple[str, str]:
        """A fresh (ID token, refresh token) pair. Unlike production, the emulator does not
        refuse a refresh token issued before a revocation; it does refuse a disabled user."""
        response = self.client.post(
            f"{SECURE_TOKEN}/token",
            params={"key": API_KEY},
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        )
        if response.status_code != 200:
            raise EmulatorError(response.status_code, _error_message(response))
        data = response.json()
        return data["id_token"], data["refresh_token"]

    def get_user(self, uid: str) -> dict[str, Any]:
        """The emulator's user record (``disabled``, ``validSince``, ...)."""
        users = self._admin("lookup", {"localId": [uid]}).get("users", [])
        if not users:
            raise EmulatorError(400, "USER_NOT_FOUND")
        user: dict[str, Any] = users[0]
        return user

    def disable_user(self, uid: str, disabled: bool = True) -> None:
        self._admin("update", {"localId": uid, "disableUser": disabled})

    def revoke_refresh_tokens(self, uid: str, valid_since: int | None = None) -> int:
        """Set the user's ``tokensValidAfterTime`` (seconds), as firebase-admin's
        ``revoke_refresh_tokens`` does; returns it. ``verify_id_token(check_revoked=True)`` then
        refuses tokens with ``iat`` *strictly before* it, so a token issued in the same second
        still passes: wait until ``int(time.time()) > iat`` before revoking."""
        valid_since = int(time.time()) if valid_since is None else valid_since
        self._admin("update", {"localId": uid, "validSince": str(valid_since)})
        return valid_since

    def delete_user(self, uid: str) -> None:
        self._admin("delete", {"localId": uid})

    def clear_users(self) -> None:
        """Delete every user of the project (the emulator's own endpoint)."""
        response = self.client.delete(
            f"/emulator/v1/projects/{self.project_id}/accounts", headers=ADMIN_HEADERS
        )
        response.raise_for_status()
