"""Calls to the auth role on the user's behalf: the ID token as Bearer, refreshed once on 401."""

from __future__ import annotations

from typing import Any

import httpx

from phoenix.client import identity
from phoenix.client.endpoints import Endpoints, call
from phoenix.client.errors import ClientError
from phoenix.client.wallet import load_session, save_session


def authorized(
    http: httpx.Client, endpoints: Endpoints, method: str, path: str, **options: Any
) -> httpx.Response:
    """`method path` on the auth role as the signed-in user."""
    session = load_session(endpoints.home)
    headers = dict(options.pop("headers", {}))
    for attempt in range(2):
        headers["authorization"] = f"Bearer {session.id_token}"
        try:
            return call(http, "auth", method, endpoints.auth + path, headers=headers, **options)
        except ClientError as error:
            if error.slug != "unauthenticated" or attempt:
                raise
        session = identity.refresh(http, endpoints, session)  # the ID token may have expired
        save_session(endpoints.home, session)
    raise AssertionError("unreachable")  # pragma: no cover


def show(http: httpx.Client, endpoints: Endpoints) -> dict[str, Any]:
    answer: dict[str, Any] = authorized(http, endpoints, "GET", "/v1/account").json()
    return answer


def delete(http: httpx.Client, endpoints: Endpoints) -> None:
    authorized(http, endpoints, "DELETE", "/v1/account")
