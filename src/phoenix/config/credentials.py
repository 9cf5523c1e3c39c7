"""Node credentials: compared in constant time, stored only as hashes. (The operator's and the
monitor's shared secrets: phoenix.config.guards.)"""

from __future__ import annotations

import hashlib
import hmac

from phoenix.common.bearer import bearer as common_bearer
from phoenix.common.problems import Problem


class BadCredential(Problem):
    status = 401
    slug = "bad-credential"
    title = "Missing or wrong credential"

    def __init__(self, detail: str = "missing or wrong credential") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="phoenix-nodes"'})


def bearer(authorization: str | None) -> str:
    """The node credential of an ``Authorization`` field; BadCredential when there is none."""
    presented = common_bearer(authorization)
    if presented is None:
        raise BadCredential()
    return presented


def digest(credential: str) -> bytes:
    # A random 256-bit credential needs no slow KDF: SHA-256 cannot be brute-forced here.
    return hashlib.sha256(credential.encode()).digest()


def matches(presented: str, stored: bytes | None) -> bool:
    return stored is not None and hmac.compare_digest(digest(presented), stored)


def check_hash(presented: str, stored: bytes | None) -> None:
    if not matches(presented, stored):
        raise BadCredential()
