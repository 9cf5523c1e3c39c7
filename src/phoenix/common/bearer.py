"""Shared secrets presented as `Authorization: Bearer <secret>`: read one way, compared in
constant time. Each role answers a refusal with its own problem and challenge."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.types import Guard


def bearer(authorization: str | None) -> str | None:
    """The credentials of a ``Bearer`` header (scheme case-insensitive), or None."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return None
    return value


def matches_any(presented: str, accepted: Sequence[str]) -> bool:
    """Whether ``presented`` is one of ``accepted`` (several while a secret is rotated).

    Every secret is compared, so the time taken says nothing of which matched; an empty
    configured secret matches nothing, so an unset setting never lets an empty header in.
    """
    matched = False
    for secret in accepted:
        matched |= bool(secret) and hmac.compare_digest(presented.encode(), secret.encode())
    return matched


Refusal = Callable[[], Exception]


def require_secret(
    authorization: str | None, accepted: str | Sequence[str], refusal: Refusal
) -> None:
    """The one credential check of every role: a Bearer secret that is one of ``accepted``.

    ``refusal`` builds the role's own problem (its status, slug and challenge); it is raised for
    a missing header, another scheme and a wrong secret alike, so an answer says nothing of why.
    """
    presented = bearer(authorization)
    secrets = [accepted] if isinstance(accepted, str) else list(accepted)
    if presented is None or not matches_any(presented, secrets):
        raise refusal()


def secret_guard(setting: str, refusal: Refusal) -> Guard:
    """A Litestar guard that lets a request through only with the secret in ``app.state[setting]``
    (a string, or several while it is rotated). The app factory puts the secret there, so a guard
    is declared on a controller without reaching for settings."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        require_secret(
            connection.headers.get("authorization"), connection.app.state[setting], refusal
        )

    guard.__name__ = f"{setting}_guard"
    return guard
