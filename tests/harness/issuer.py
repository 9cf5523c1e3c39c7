"""Issuer keys for tests: RSA-2048 bundles made once per session (key generation is slow)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import rsa

from phoenix.auth.keys import SigningKey, generate, render_key

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


@functools.cache
def _pool(size: int) -> tuple[rsa.RSAPrivateKey, ...]:
    made: list[SigningKey] = []
    for _ in range(size):
        made.append(generate(made, LONG_AGO))
    return tuple(key.private_key for key in made)


def private_keys(count: int) -> tuple[rsa.RSAPrivateKey, ...]:
    """``count`` distinct keys whose truncated ids differ, the same ones every call."""
    return _pool(4)[:count]


def bundle(*not_before: datetime) -> str:
    """A PEM bundle with one key per given not-before (default: one key valid since 2020)."""
    moments = not_before or (LONG_AGO,)
    return "".join(
        render_key(key, moment)
        for key, moment in zip(private_keys(len(moments)), moments, strict=True)
    )


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)
