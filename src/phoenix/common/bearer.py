"""Shared secrets presented as `Authorization: Bearer <secret>`: read one way, compared in
constant time. Each role answers a refusal with its own problem and challenge."""

from __future__ import annotations

import hmac
from collections.abc import Sequence


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
