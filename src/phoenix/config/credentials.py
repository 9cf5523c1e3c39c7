"""Node and monitor credentials: compared in constant time, stored only as hashes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from phoenix.common.bearer import bearer as common_bearer
from phoenix.common.bearer import matches_any
from phoenix.common.problems import Problem


class BadCredential(Problem):
    status = 401
    slug = "bad-credential"
    title = "Missing or wrong credential"

    def __init__(self, detail: str = "missing or wrong credential") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="phoenix-nodes"'})


def bearer(authorization: str | None) -> str:
    presented = common_bearer(authorization)
    if presented is None:
        raise BadCredential()
    return presented


def check_any(presented: str, accepted: Sequence[str]) -> None:
    """Accept any configured secret (rotation); compare every one, so timing says nothing."""
    if not matches_any(presented, accepted):
        raise BadCredential()


def digest(credential: str) -> bytes:
    # A random 256-bit credential needs no slow KDF: SHA-256 cannot be brute-forced here.
    return hashlib.sha256(credential.encode()).digest()


def matches(presented: str, stored: bytes | None) -> bool:
    return stored is not None and hmac.compare_digest(digest(presented), stored)


def check_hash(presented: str, stored: bytes | None) -> None:
    if not matches(presented, stored):
        raise BadCredential()
