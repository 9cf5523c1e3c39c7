"""The ASGI factory :mod:`bench.issuance` serves under granian: the auth role's real app.

``bench.issuance_app:create_app`` builds :func:`phoenix.auth.app.create_app` from the
environment exactly as ``phoenix serve auth`` does (settings, logging), with one choice made by
``BENCH_ISSUANCE_MODE``:

- ``firebase``: the app's own Firebase verifier (against the Auth emulator that
  ``FIREBASE_AUTH_EMULATOR_HOST`` names);
- ``stub``: :class:`StubIdentity`, which accepts a fixed set of bearer tokens, each as one fixed
  user (``BENCH_ISSUANCE_IDENTITIES``: a JSON object ``{token: [uid, email]}``), so that the
  figure is issuance without the identity provider.

The stub lives here, in bench/, and only reaches the app through ``create_app``'s ``verifier``
argument: no Phoenix code path can select it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Final

from litestar import Litestar

from phoenix.auth.app import ROLE
from phoenix.auth.app import create_app as create_auth_app
from phoenix.auth.firebase import Identity, IdentityVerifier, Unauthenticated
from phoenix.auth.settings import AuthSettings
from phoenix.common.logging import configure_logging
from phoenix.settings import load

MODE_VARIABLE: Final = "BENCH_ISSUANCE_MODE"
IDENTITIES_VARIABLE: Final = "BENCH_ISSUANCE_IDENTITIES"
MODES: Final = ("stub", "firebase")


class StubIdentity:
    """Bench-only :class:`~phoenix.auth.firebase.IdentityVerifier`: fixed tokens, fixed users."""

    def __init__(self, identities: Mapping[str, Identity]) -> None:
        self._identities = dict(identities)

    @classmethod
    def from_json(cls, text: str) -> StubIdentity:
        table: dict[str, list[str | None]] = json.loads(text)
        return cls({token: Identity(str(uid), email) for token, (uid, email) in table.items()})

    async def verify(self, id_token: str) -> Identity:
        identity = self._identities.get(id_token)
        if identity is None:
            raise Unauthenticated("not one of the benchmark's stub tokens")
        return identity

    async def delete_user(self, uid: str) -> None:
        raise NotImplementedError("the issuance benchmark deletes no accounts")

    def close(self) -> None:
        pass


def create_app() -> Litestar:
    mode = os.environ.get(MODE_VARIABLE, "")
    if mode not in MODES:
        raise RuntimeError(f"{MODE_VARIABLE} must be one of {', '.join(MODES)}, not {mode!r}")
    settings = load(AuthSettings)
    configure_logging(settings.log_level, ROLE)
    verifier: IdentityVerifier | None = None
    if mode == "stub":
        identities = os.environ.get(IDENTITIES_VARIABLE, "")
        if not identities:
            raise RuntimeError(f"{IDENTITIES_VARIABLE} is not set")
        verifier = StubIdentity.from_json(identities)
    return create_auth_app(settings, verifier)
