"""AWS instance identity attestation: the signed document an EC2 instance reads from IMDS.

The document (JSON) names the instance, its account and region and when it launched
(``pendingTime``); AWS signs its exact bytes with a regional RSA key (PKCS#1 v1.5, SHA-256 — the
"base64-encoded signature" of AWS's guide to verifying the document). The operator configures
AWS's published public certificates; nothing here calls AWS. As with SPIRE's ``aws_iid``
attestor and Vault's AWS auth method, an instance id is trusted on first use: the store binds
it to the first key that enrolls with it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from phoenix.common.problems import Problem
from phoenix.config.nodes.schemas import Attestation


class AttestationInvalid(Problem):
    status = 401
    slug = "attestation-invalid"
    title = "The instance identity document does not verify"


class AttestationRefused(Problem):
    status = 403
    slug = "attestation-refused"
    title = "This instance may not enroll here"


class InstanceDocument(msgspec.Struct, frozen=True, rename="camel"):
    """The fields of the identity document we rely on (AWS adds others; they are ignored)."""

    instance_id: str
    account_id: str
    region: str
    pending_time: datetime


@dataclass(frozen=True)
class Instance:
    instance_id: str
    account_id: str
    region: str


def load_certificates(pem: str) -> tuple[RSAPublicKey, ...]:
    """The RSA public keys of a PEM bundle of AWS's regional certificates."""
    if not pem.strip():
        return ()
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise ValueError(
            "PHOENIX_NODE_AWS_CERTIFICATES: not a PEM bundle of certificates"
        ) from None
    keys = [certificate.public_key() for certificate in certificates]
    if not all(isinstance(key, RSAPublicKey) for key in keys):
        raise ValueError("PHOENIX_NODE_AWS_CERTIFICATES: use AWS's RSA certificates")
    return tuple(key for key in keys if isinstance(key, RSAPublicKey))


class AttestationVerifier:
    def __init__(
        self,
        keys: Sequence[RSAPublicKey],
        accounts: Sequence[str],
        regions: Mapping[str, str],
        max_age: timedelta,
    ) -> None:
        self.keys = tuple(keys)
        self.accounts = frozenset(accounts)
        self.regions = dict(regions)
        self.max_age = max_age

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def verify(self, attestation: Attestation, location: str) -> tuple[Instance, datetime]:
        """The attested instance and its launch time, or a refusal; freshness is the caller's
        (it applies to an instance's first registration only)."""
        if not self.enabled:
            raise AttestationRefused("instance attestation is not configured on this server")
        try:
            document = base64.b64decode(attestation.document, validate=True)
            signature = base64.b64decode("".join(attestation.signature.split()), validate=True)
        except (binascii.Error, ValueError):
            raise AttestationInvalid("document and signature must be base64") from None
        if not any(self._signed_by(key, document, signature) for key in self.keys):
            raise AttestationInvalid()
        try:
            fields = msgspec.json.decode(document, type=InstanceDocument)
        except msgspec.DecodeError:
            raise AttestationInvalid(
                "the signed document lacks an instance id, account, region or pendingTime"
            ) from None
        if fields.account_id not in self.accounts:
            raise AttestationRefused("the instance's account is not allowed to enroll nodes")
        expected = self.regions.get(location)
        if expected is None or fields.region != expected:
            raise AttestationRefused(
                f"location {location} is not served from the instance's region"
            )
        return Instance(fields.instance_id, fields.account_id, fields.region), fields.pending_time

    def check_fresh(self, launched: datetime, now: datetime) -> None:
        """A first registration must come soon after launch: an old document copied off some
        instance cannot enroll a new key for it later."""
        if launched.tzinfo is None or now - launched > self.max_age:
            raise AttestationRefused("the instance launched too long ago to enroll now")

    @staticmethod
    def _signed_by(key: RSAPublicKey, document: bytes, signature: bytes) -> bool:
        try:
            key.verify(signature, document, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True
