"""A private App Store signing chain, so tests send notifications Apple's own verifier accepts.

Root → intermediate (OID 1.2.840.113635.100.6.2.1) → leaf (OID 1.2.840.113635.100.6.11.1), P-256
keys, ES256 JWS with the x5c header exactly as App Store Server Notifications V2 carry them.
The server under test trusts only this root (and has OCSP checks off — tests only).
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")
LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")
BUNDLE_ID = "com.phoenix.vpn"
APP_ID = 1234567890
ENVIRONMENT = "Sandbox"
DAY_MS = 86_400_000


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
    marker: x509.ObjectIdentifier | None,
) -> x509.Certificate:
    now = datetime.now(UTC)
    issuer_name = issuer[0].subject if issuer else _name(subject)
    signing_key = issuer[1] if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=30))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
    )
    if marker is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(marker, b"\x05\x00"), critical=False
        )
    return builder.sign(signing_key, hashes.SHA256())


@dataclass
class AppleChain:
    root: x509.Certificate
    intermediate: x509.Certificate
    leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey
    bundle_id: str = BUNDLE_ID
    app_id: int = APP_ID
    environment: str = ENVIRONMENT
    _clock_ms: list[int] = field(default_factory=lambda: [int(time.time() * 1000)])

    @classmethod
    def create(cls, *, leaf_marker: bool = True) -> AppleChain:
        root_key = ec.generate_private_key(ec.SECP256R1())
        root = _certificate("Test Apple Root", root_key, None, ca=True, marker=None)
        intermediate_key = ec.generate_private_key(ec.SECP256R1())
        intermediate = _certificate(
            "Test Apple WWDR", intermediate_key, (root, root_key), ca=True, marker=INTERMEDIATE_OID
        )
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = _certificate(
            "Test App Store Signing",
            leaf_key,
            (intermediate, intermediate_key),
            ca=False,
            marker=LEAF_OID if leaf_marker else None,
        )
        return cls(root, intermediate, leaf, leaf_key)

    @property
    def root_pem(self) -> str:
        return self.root.public_bytes(Encoding.PEM).decode()

    def sign(self, claims: dict[str, Any]) -> str:
        chain = [
            base64.b64encode(c.public_bytes(Encoding.DER)).decode()
            for c in (self.leaf, self.intermediate, self.root)
        ]
        return jwt.encode(claims, self.leaf_key, algorithm="ES256", headers={"x5c": chain})

    def transaction(
        self,
        app_account_token: str,
        *,
        original_transaction_id: str = "2000000000000001",
        transaction_id: str | None = None,
        expires_in_days: float = 30,
        product_id: str = "phoenix.monthly",
        price_milli: int = 9990,
        revoked: bool = False,
        **extra: Any,
    ) -> dict[str, Any]:
        now_ms = int(time.time() * 1000)
        claims: dict[str, Any] = {
            "transactionId": transaction_id or str(uuid.uuid4().int)[:16],
            "originalTransactionId": original_transaction_id,
            "bundleId": self.bundle_id,
            "productId": product_id,
            "purchaseDate": now_ms,
            "originalPurchaseDate": now_ms,
            "expiresDate": now_ms + int(expires_in_days * DAY_MS),
            "type": "Auto-Renewable Subscription",
            "inAppOwnershipType": "PURCHASED",
            "appAccountToken": app_account_token,
            "environment": self.environment,
            "price": price_milli,
            "currency": "EUR",
            "signedDate": now_ms,
        }
        if revoked:
            claims["revocationDate"] = now_ms
            claims["revocationReason"] = 0
        claims.update(extra)
        return claims

    def tick(self) -> int:
        """The next signedDate (ms): a second after the one before, whatever the wall clock."""
        self._clock_ms[0] += 1000
        return self._clock_ms[0]

    def notification(
        self,
        notification_type: str,
        transaction: dict[str, Any] | None,
        *,
        subtype: str | None = None,
        renewal: dict[str, Any] | None = None,
        signed_date_ms: int | None = None,
        notification_uuid: str | None = None,
        bundle_id: str | None = None,
        environment: str | None = None,
    ) -> str:
        """A signedPayload; each call is signed later than the one before unless told."""
        if signed_date_ms is None:
            signed_date_ms = self.tick()
        data: dict[str, Any] = {
            "appAppleId": self.app_id,
            "bundleId": bundle_id or self.bundle_id,
            "environment": environment or self.environment,
            "status": 1,
        }
        if transaction is not None:
            data["signedTransactionInfo"] = self.sign(transaction)
        if renewal is not None:
            data["signedRenewalInfo"] = self.sign(renewal)
        claims: dict[str, Any] = {
            "notificationType": notification_type,
            "notificationUUID": notification_uuid or str(uuid.uuid4()),
            "data": data,
            "version": "2.0",
            "signedDate": signed_date_ms,
        }
        if subtype:
            claims["subtype"] = subtype
        return self.sign(claims)

    def renewal(
        self, original_transaction_id: str, *, auto_renew: bool = True, grace_days: float = 0
    ) -> dict[str, Any]:
        now_ms = int(time.time() * 1000)
        claims: dict[str, Any] = {
            "originalTransactionId": original_transaction_id,
            "autoRenewProductId": "phoenix.monthly",
            "productId": "phoenix.monthly",
            "autoRenewStatus": 1 if auto_renew else 0,
            "environment": self.environment,
            "signedDate": now_ms,
            "recentSubscriptionStartDate": now_ms,
        }
        if grace_days:
            claims["gracePeriodExpiresDate"] = now_ms + int(grace_days * DAY_MS)
            claims["isInBillingRetryPeriod"] = True
        return claims
