"""The config role with the node-trust settings a test asks for, and a stand-in for AWS.

AWS's regional certificate cannot sign anything here, so a private CA plays it: its RSA key signs
instance identity documents exactly as AWS signs them (PKCS#1 v1.5 over the document's bytes,
SHA-256), and the role is configured with its certificate. That is the one fake in these tests.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from litestar.testing import AsyncTestClient

from phoenix.config.app import create_app
from phoenix.config.settings import ConfigSettings

ACCOUNT = "123456789012"
REGION = "eu-central-1"


class FakeAws:
    """The private CA standing in for AWS's instance identity signing key (named so)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Fake AWS (test CA)")])
        now = datetime.now(UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def document(
        self,
        instance_id: str = "i-0123456789abcdef0",
        account: str = ACCOUNT,
        region: str = REGION,
        launched: datetime | None = None,
    ) -> bytes:
        pending = (launched or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        # Shaped like IMDS's: pretty-printed JSON with more fields than we read.
        return json.dumps(
            {
                "accountId": account,
                "architecture": "x86_64",
                "availabilityZone": region + "a",
                "imageId": "ami-0abcdef1234567890",
                "instanceId": instance_id,
                "instanceType": "c7g.large",
                "pendingTime": pending,
                "privateIp": "172.31.1.2",
                "region": region,
                "version": "2017-09-30",
            },
            indent=2,
        ).encode()

    def attestation(
        self, document: bytes, signer: rsa.RSAPrivateKey | None = None
    ) -> dict[str, str]:
        signature = (signer or self.key).sign(document, padding.PKCS1v15(), hashes.SHA256())
        text = base64.b64encode(signature).decode()
        # IMDS serves the signature folded over lines; the node sends it as it came.
        folded = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
        return {"document": base64.b64encode(document).decode(), "signature": folded}


@pytest.fixture(scope="session")
def fake_aws() -> FakeAws:
    return FakeAws()


ConfigFactory = Callable[..., AbstractAsyncContextManager[AsyncTestClient[Any]]]


@pytest.fixture
def config_with(config_settings: ConfigSettings) -> ConfigFactory:
    """The role in process with some settings changed (field names, typed values)."""

    @asynccontextmanager
    async def make(**changes: Any) -> AsyncIterator[AsyncTestClient[Any]]:
        settings = msgspec.structs.replace(config_settings, **changes)
        async with AsyncTestClient(create_app(settings), timeout=30) as client:
            yield client

    return make
