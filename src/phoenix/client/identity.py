"""Signing up and in with Firebase email + password, over Firebase's REST API (or the emulator's).

The ID token goes to the auth role only; the config role never sees it.
"""

from __future__ import annotations

from typing import Any

import httpx

from phoenix.client.endpoints import Endpoints
from phoenix.client.errors import ClientError, from_firebase, unreachable
from phoenix.client.wallet import Session


def _post(http: httpx.Client, url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = http.post(url, params={"key": key}, json=body)
    except httpx.HTTPError as error:
        raise unreachable("Firebase", url, error) from None
    if not response.is_success:
        raise from_firebase(response)
    try:
        data: dict[str, Any] = response.json()
    except ValueError:
        raise ClientError(f"Firebase answered something that is not JSON from {url}") from None
    return data


def sign_up(http: httpx.Client, endpoints: Endpoints, email: str, password: str) -> Session:
    return _password(http, endpoints, "accounts:signUp", email, password)


def sign_in(http: httpx.Client, endpoints: Endpoints, email: str, password: str) -> Session:
    return _password(http, endpoints, "accounts:signInWithPassword", email, password)


def _password(
    http: httpx.Client, endpoints: Endpoints, operation: str, email: str, password: str
) -> Session:
    data = _post(
        http,
        f"{endpoints.identity_toolkit}/{operation}",
        endpoints.firebase_api_key,
        {"email": email, "password": password, "returnSecureToken": True},
    )
    return Session(
        email=email,
        uid=str(data["localId"]),
        id_token=str(data["idToken"]),
        refresh_token=str(data["refreshToken"]),
    )


def refresh(http: httpx.Client, endpoints: Endpoints, session: Session) -> Session:
    """A fresh ID token for the session (ID tokens last an hour)."""
    data = _post(
        http,
        f"{endpoints.secure_token}/token",
        endpoints.firebase_api_key,
        {"grant_type": "refresh_token", "refresh_token": session.refresh_token},
    )
    return Session(
        email=session.email,
        uid=session.uid,
        id_token=str(data["id_token"]),
        refresh_token=str(data["refresh_token"]),
    )
