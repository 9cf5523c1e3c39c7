"""Settings of the auth role. No field here may name NodeDB, Redis state or node secrets."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Annotated

from phoenix.settings import SECRET, CommonSettings, Secret, SettingsError

EMULATOR_VARIABLE = "FIREBASE_AUTH_EMULATOR_HOST"
APPLE_ENVIRONMENTS = ("Production", "Sandbox")


class AuthSettings(CommonSettings, kw_only=True, frozen=True):
    # UserDB (Postgres database phoenix_users); a secret because it may carry a password.
    userdb_url: Annotated[str, SECRET]
    userdb_pool_size: int = 10
    # PEM bundle of RSA-2048 issuer keys, each preceded by a "Not-Before: <ISO 8601>" line
    # (`phoenix issuer keygen` writes one). Secrets Manager id: BLINDED_SIGNING_PRIVATE_KEY.
    issuer_signing_keys: Annotated[str, Secret("BLINDED_SIGNING_PRIVATE_KEY")]
    # How long a replaced key stays in the directory, so tokens fetched ahead still redeem.
    issuer_key_overlap_hours: int = 72
    # A key signs for at most this long after its not-before (ISO 8601 "P30D" or seconds);
    # config accepts its tokens until max age + overlap. Give config the same two values.
    issuer_key_max_age: timedelta = timedelta(days=30)
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
    # Stripe. Without a secret key, checkout and the portal answer 503 (billing not configured);
    # without a webhook secret, Stripe webhooks are refused the same way.
    stripe_secret_key: Annotated[str, Secret("STRIPE_SECRET_KEY")] = ""
    stripe_webhook_secret: Annotated[str, Secret("STRIPE_WEBHOOK_SECRET")] = ""
    stripe_price_id: str = ""
    # Where Stripe sends the customer back: required with a secret key (no default that could
    # reach production pointing nowhere).
    stripe_success_url: str = ""
    stripe_cancel_url: str = ""
    stripe_portal_return_url: str = ""
    # Only for stripe-mock or a test stub: the SDK's API base address.
    stripe_api_base: str = ""
    # A subscription whose renewal payment failed keeps access this long while Stripe retries.
    stripe_grace_days: int = 7
    # Apple App Store Server Notifications V2: trusted roots (PEM; Apple Root CA - G3 in
    # production), the app's bundle id and Apple id, and the environment notifications must
    # come from. Without roots, Apple notifications are refused with 503.
    apple_root_certificates: str = ""
    apple_bundle_id: str = ""
    apple_app_id: int = 0
    apple_environment: str = "Production"
    # OCSP revocation checks of Apple's chain; only tests with their own chain turn them off.
    apple_online_checks: bool = True
    # The App Store Server API (billing reconciliation): an in-app purchase key of App Store
    # Connect (its .p8 PEM; Secrets Manager id APPLE_API_KEY), its key id and issuer id. Without
    # them, reconciliation leaves the App Store out.
    apple_api_key: Annotated[str, Secret("APPLE_API_KEY")] = ""
    apple_api_key_id: str = ""
    apple_api_issuer_id: str = ""
    # Only for a test stub: the API's base address (else Apple's, by the environment).
    apple_api_base: str = ""
    # The operator credential of /v1/admin/* (the worker's retention job); empty: refused.
    admin_token: Annotated[str, Secret("AUTH_ADMIN_TOKEN")] = ""
    # Processed webhook ids are kept this long: past Stripe's and Apple's redelivery windows.
    webhook_retention_days: int = 90
    # Firebase revocation checks (one paid user lookup each): an answer is reused per uid for
    # this long (1-60 s), and one uid may cause at most this many lookups a minute per process.
    firebase_revocation_cache_seconds: int = 60
    firebase_revocation_lookups_per_minute: int = 6

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
        self._check_firebase_revocation()
        from phoenix.auth.keys import KeyBundleError, parse_bundle

        try:
            parse_bundle(self.issuer_signing_keys)
        except KeyBundleError as error:
            raise SettingsError("PHOENIX_ISSUER_SIGNING_KEYS", str(error)) from None
        self._check_key_life()
        if not 1 <= self.issuer_max_batch <= 1024:
            raise SettingsError("PHOENIX_ISSUER_MAX_BATCH", "must be between 1 and 1024")
        if self.issuer_quota < 1:
            raise SettingsError("PHOENIX_ISSUER_QUOTA", "must be at least 1")
        self._check_apple()
        if self.admin_token and len(self.admin_token) < 32:
            raise SettingsError("PHOENIX_ADMIN_TOKEN", "must be at least 32 characters")
        if self.webhook_retention_days < 7:
            raise SettingsError("PHOENIX_WEBHOOK_RETENTION_DAYS", "must be at least 7")
        if not 0 <= self.stripe_grace_days <= 60:
            raise SettingsError("PHOENIX_STRIPE_GRACE_DAYS", "must be between 0 and 60")
        if self.env == "prod":
            # A stub's address left set in production would hand it Stripe's secret key, or an
            # App Store API token signed with the in-app purchase key.
            for variable, value in (
                ("PHOENIX_STRIPE_API_BASE", self.stripe_api_base),
                ("PHOENIX_APPLE_API_BASE", self.apple_api_base),
            ):
                if value:
                    raise SettingsError(variable, "only for a test stub: refused in production")
        if self.stripe_secret_key:
            for variable, url in (
                ("PHOENIX_STRIPE_SUCCESS_URL", self.stripe_success_url),
                ("PHOENIX_STRIPE_CANCEL_URL", self.stripe_cancel_url),
                ("PHOENIX_STRIPE_PORTAL_RETURN_URL", self.stripe_portal_return_url),
            ):
                if not url.startswith(("https://", "http://")):
                    raise SettingsError(variable, "required with PHOENIX_STRIPE_SECRET_KEY")

    def _check_key_life(self) -> None:
        if not timedelta(hours=1) <= self.issuer_key_max_age <= timedelta(days=366):
            raise SettingsError("PHOENIX_ISSUER_KEY_MAX_AGE", "must be between 1 hour and 366 days")
        if self.issuer_key_overlap_hours < 0:
            raise SettingsError("PHOENIX_ISSUER_KEY_OVERLAP_HOURS", "must not be negative")

    def _check_firebase_revocation(self) -> None:
        # Past 60 s a revoked or disabled account would stay usable too long (README: 60 s).
        if not 1 <= self.firebase_revocation_cache_seconds <= 60:
            raise SettingsError(
                "PHOENIX_FIREBASE_REVOCATION_CACHE_SECONDS", "must be between 1 and 60"
            )
        if not 1 <= self.firebase_revocation_lookups_per_minute <= 60:
            raise SettingsError(
                "PHOENIX_FIREBASE_REVOCATION_LOOKUPS_PER_MINUTE", "must be between 1 and 60"
            )

    def _check_apple(self) -> None:
        # Xcode and LocalTesting make the library skip signature checks: never accepted here.
        if self.apple_environment not in APPLE_ENVIRONMENTS:
            raise SettingsError("PHOENIX_APPLE_ENVIRONMENT", "must be Production or Sandbox")
        if not self.apple_root_certificates:
            return
        if not self.apple_bundle_id:
            raise SettingsError("PHOENIX_APPLE_BUNDLE_ID", "missing (required with Apple roots)")
        if self.apple_environment == "Production" and self.apple_app_id <= 0:
            raise SettingsError("PHOENIX_APPLE_APP_ID", "missing (required in Production)")
        if self.env == "prod" and not self.apple_online_checks:
            raise SettingsError(
                "PHOENIX_APPLE_ONLINE_CHECKS", "revocation checks cannot be off in PHOENIX_ENV=prod"
            )
