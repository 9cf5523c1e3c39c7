"""App Store Server Notifications V2 → subscription states and transaction records (pure past
verification: the store writes them, phoenix.auth.billing.store).

Verification is Apple's own library (SignedDataVerifier): the x5c chain up to a configured root,
the intermediate and leaf OIDs, ES256, the bundle id, the app id and the environment. The
notification's ``signedDate`` orders state: an older notification never overwrites a newer one;
``notificationUUID`` makes a redelivery change nothing. A user is named by the purchase's
``appAccountToken``, never by anything Apple knows about them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.models.JWSRenewalInfoDecodedPayload import JWSRenewalInfoDecodedPayload
from appstoreserverlibrary.models.JWSTransactionDecodedPayload import JWSTransactionDecodedPayload
from appstoreserverlibrary.models.ResponseBodyV2DecodedPayload import ResponseBodyV2DecodedPayload
from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier, VerificationException
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from phoenix.auth.billing.entitlement import State
from phoenix.auth.billing.rows import AppleSubscriptionState, AppleTransactionRecord
from phoenix.auth.settings import AuthSettings
from phoenix.common.problems import Problem

SOURCE: Final = "apple"
_PAID: Final = {"SUBSCRIBED", "DID_RENEW", "DID_CHANGE_RENEWAL_STATUS"}
_ENDED: Final = {"GRACE_PERIOD_EXPIRED", "EXPIRED"}
HANDLED: Final = _PAID | _ENDED | {"DID_FAIL_TO_RENEW", "REFUND", "REVOKE"}
# A status of the App Store Server API's Get All Subscription Statuses, as the notification
# (type, subtype) that says the same: one mapping (subscription_state) reads both.
STATUS_AS: Final[dict[int, tuple[str, str | None]]] = {
    1: ("DID_RENEW", None),  # active
    2: ("EXPIRED", None),
    3: ("DID_FAIL_TO_RENEW", None),  # billing retry, no grace: covered up to what was paid
    4: ("DID_FAIL_TO_RENEW", "GRACE_PERIOD"),
    5: ("REVOKE", None),
}
STATUS_NAMES: Final = {
    1: "active",
    2: "expired",
    3: "billing_retry",
    4: "grace_period",
    5: "revoked",
}


class AppleNotConfigured(Problem):
    status = 503
    slug = "apple-not-configured"
    title = "App Store notifications are not configured on this server"


class UnverifiableNotification(Problem):
    status = 400
    slug = "unverifiable-notification"
    title = "The notification's signature, chain, app or environment did not verify"


@dataclass(frozen=True)
class Notification:
    """A verified notification with its transaction and renewal info decoded and verified."""

    uuid: str
    type: str
    subtype: str | None
    signed_at: datetime
    transaction: JWSTransactionDecodedPayload | None
    renewal: JWSRenewalInfoDecodedPayload | None


def _roots(pem_bundle: str) -> list[bytes]:
    return [
        certificate.public_bytes(Encoding.DER)
        for certificate in x509.load_pem_x509_certificates(pem_bundle.encode())
    ]


def _at(milliseconds: int | None) -> datetime | None:
    return None if milliseconds is None else datetime.fromtimestamp(milliseconds / 1000, UTC)


class AppleVerifier:
    def __init__(self, settings: AuthSettings) -> None:
        self._verifier: SignedDataVerifier | None = None
        if settings.apple_root_certificates:
            self._verifier = SignedDataVerifier(
                _roots(settings.apple_root_certificates),
                settings.apple_online_checks,
                Environment(settings.apple_environment),
                settings.apple_bundle_id,
                settings.apple_app_id or None,
            )

    async def verify(self, signed_payload: str) -> Notification:
        if self._verifier is None:
            raise AppleNotConfigured("PHOENIX_APPLE_ROOT_CERTIFICATES is not set")
        # Online checks make OCSP requests: keep the blocking library off the event loop.
        return await asyncio.to_thread(self._verify, self._verifier, signed_payload)

    async def verify_status(
        self, status: int, signed_transaction: str, signed_renewal: str | None
    ) -> Notification:
        """A subscription status (App Store Server API), verified as a notification's data is,
        as the notification that would say the same; ordered by the transaction's signedDate."""
        if self._verifier is None:
            raise AppleNotConfigured("PHOENIX_APPLE_ROOT_CERTIFICATES is not set")
        if status not in STATUS_AS:
            raise UnverifiableNotification(f"unknown subscription status {status}")
        return await asyncio.to_thread(
            self._verify_status, self._verifier, status, signed_transaction, signed_renewal
        )

    @staticmethod
    def _verify_status(
        verifier: SignedDataVerifier,
        status: int,
        signed_transaction: str,
        signed_renewal: str | None,
    ) -> Notification:
        try:
            transaction = verifier.verify_and_decode_signed_transaction(signed_transaction)
            renewal = (
                verifier.verify_and_decode_renewal_info(signed_renewal) if signed_renewal else None
            )
        except VerificationException as error:
            raise UnverifiableNotification(f"verification failed: {error.status.name}") from None
        signed_at = _at(transaction.signedDate)
        if signed_at is None:
            raise UnverifiableNotification("signedDate missing")
        kind, subtype = STATUS_AS[status]
        return Notification("", kind, subtype, signed_at, transaction, renewal)

    @staticmethod
    def _verify(verifier: SignedDataVerifier, signed_payload: str) -> Notification:
        try:
            payload: ResponseBodyV2DecodedPayload = verifier.verify_and_decode_notification(
                signed_payload
            )
            data = payload.data
            transaction = renewal = None
            if data is not None and data.signedTransactionInfo:
                transaction = verifier.verify_and_decode_signed_transaction(
                    data.signedTransactionInfo
                )
            if data is not None and data.signedRenewalInfo:
                renewal = verifier.verify_and_decode_renewal_info(data.signedRenewalInfo)
        except VerificationException as error:
            raise UnverifiableNotification(f"verification failed: {error.status.name}") from None
        if not payload.notificationUUID or payload.signedDate is None:
            raise UnverifiableNotification("notificationUUID or signedDate missing")
        signed_at = _at(payload.signedDate)
        assert signed_at is not None
        return Notification(
            uuid=payload.notificationUUID,
            type=payload.rawNotificationType or "",
            subtype=payload.rawSubtype,
            signed_at=signed_at,
            transaction=transaction,
            renewal=renewal,
        )


def subscription_state(notification: Notification) -> AppleSubscriptionState | None:
    """The stored state this notification implies, or None for a type that changes nothing."""
    transaction = notification.transaction
    if transaction is None or not transaction.originalTransactionId:
        return None
    paid_until = _at(transaction.expiresDate)
    grace_until = None
    kind = notification.type
    if transaction.revocationDate is not None or kind == "REFUND":
        state = State.REFUNDED
    elif kind == "REVOKE":
        state = State.REVOKED
    elif kind in _ENDED:
        state = State.ENDED
    elif kind == "DID_FAIL_TO_RENEW" and notification.subtype == "GRACE_PERIOD":
        state = State.GRACE
        grace_until = _at(
            notification.renewal.gracePeriodExpiresDate if notification.renewal else None
        )
    elif kind in _PAID or kind == "DID_FAIL_TO_RENEW":
        # Billing retry without grace: covered only up to what was paid.
        state = State.ACTIVE
    else:
        return None
    auto_renew = None
    if notification.renewal is not None and notification.renewal.rawAutoRenewStatus is not None:
        auto_renew = notification.renewal.rawAutoRenewStatus == 1
    return AppleSubscriptionState(
        original_transaction_id=transaction.originalTransactionId,
        product_id=transaction.productId or "",
        state=state,
        paid_until=paid_until,
        grace_until=grace_until,
        auto_renew=auto_renew,
        signed_at=notification.signed_at,
    )


def transaction_record(notification: Notification) -> AppleTransactionRecord | None:
    transaction = notification.transaction
    if transaction is None or not transaction.transactionId:
        return None
    purchased = _at(transaction.purchaseDate) or notification.signed_at
    return AppleTransactionRecord(
        transaction_id=transaction.transactionId,
        original_transaction_id=transaction.originalTransactionId or transaction.transactionId,
        product_id=transaction.productId or "",
        price_milli=transaction.price,
        currency=(transaction.currency or "")[:3] or None,
        purchased_at=purchased,
        expires_at=_at(transaction.expiresDate),
        revoked_at=_at(transaction.revocationDate),
        signed_at=notification.signed_at,
    )


def account_token(notification: Notification) -> str | None:
    """The purchase's appAccountToken: how a notification names its user."""
    transaction = notification.transaction
    return transaction.appAccountToken if transaction else None
