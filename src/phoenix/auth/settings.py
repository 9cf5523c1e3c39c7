"""Settings of the auth role. No field here may name NodeDB, Redis state or node secrets."""

from __future__ import annotations

import os
from typing import Annotated

from phoenix.settings import SECRET, CommonSettings, Secret, SettingsError

EMULATOR_VARIABLE = "FIREBASE_AUTH_EMULATOR_HOST"


class AuthSettings(CommonSettings, kw_only=True, frozen=True):
    # UserDB (Postgres database phoenix_users); a secret because it may carry a password.
    userdb_url: Annotated[str, SECRET]
    userdb_pool_size: int = 10
    # PEM bundle of RSA-2048 issuer keys, each preceded by a "Not-Before: <ISO 8601>" line
    # (`phoenix issuer keygen` writes one). Secrets Manager id: BLINDED_SIGNING_PRIVATE_KEY.
    issuer_signing_keys: Annotated[str, Secret("BLINDED_SIGNING_PRIVATE_KEY")]
    # How long a replaced key stays in the directory, so tokens fetched ahead still redeem.
    issuer_key_overlap_hours: int = 72
    # Tokens per account per rolling 24 hours (a batch counts each token).
    issuer_quota: int = 200
    issuer_max_batch: int = 32
    # Where clients POST token requests, as the directory advertises it: an absolute URL in
    # production (the public name of this role), a path in development.
    issuer_request_uri: str = "/v1/tokens"
    issuer_directory_max_age: int = 300
    # Firebase: the service account JSON (Secrets Manager id: FIREBASE_PRIVATE_KEY). The
    # project id defaults to the service account's; under the Auth emulator it must be given.
    firebase_private_key: Annotated[str, Secret("FIREBASE_PRIVATE_KEY")] = ""
    firebase_project_id: str = ""

    def __post_init__(self) -> None:
        emulated = bool(os.environ.get(EMULATOR_VARIABLE))
        if emulated and self.env == "prod":
            # In emulator mode the Admin SDK checks no signature: never in production.
            raise SettingsError(
                EMULATOR_VARIABLE, "the Auth emulator is refused in PHOENIX_ENV=prod"
            )
        if emulated and not self.firebase_project_id:
            raise SettingsError(
                "PHOENIX_FIREBASE_PROJECT_ID", "missing (required with the emulator)"
            )
        if not emulated and not self.firebase_private_key:
            raise SettingsError("PHOENIX_FIREBASE_PRIVATE_KEY", "missing (service account JSON)")
        from phoenix.auth.keys import KeyBundleError, parse_bundle

        try:
            parse_bundle(self.issuer_signing_keys)
        except KeyBundleError as error:
            raise SettingsError("PHOENIX_ISSUER_SIGNING_KEYS", str(error)) from None
        if not 1 <= self.issuer_max_batch <= 1024:
            raise SettingsError("PHOENIX_ISSUER_MAX_BATCH", "must be between 1 and 1024")
        if self.issuer_quota < 1:
            raise SettingsError("PHOENIX_ISSUER_QUOTA", "must be at least 1")
