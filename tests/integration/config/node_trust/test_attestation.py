"""Enrollment by a signed AWS instance identity document (a private CA plays AWS: conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar.testing import AsyncTestClient

from tests.harness.nodes import NodeKeys, new_keys, node_body, prove
from tests.integration.config.conftest import MONITOR_TOKEN
from tests.integration.config.node_trust.conftest import ACCOUNT, REGION, ConfigFactory, FakeAws
from tests.integration.config.node_trust.test_enrollment_keys import problem

Client = AsyncTestClient[Any]


@pytest.fixture
async def attesting(config_with: ConfigFactory, fake_aws: FakeAws) -> Any:
    async with config_with(
        node_aws_certificates=fake_aws.pem,
        node_aws_accounts=[ACCOUNT],
        node_location_regions=[f"de-fra={REGION}", "us-nyc=us-east-1"],
        node_attestation_max_age_seconds=600,
    ) as config:
        yield config


async def attest(
    config: Client,
    keys: NodeKeys,
    attestation: dict[str, str],
    location: str = "de-fra",
    authorization: str | None = None,
) -> Any:
    challenge = (await config.post("/v1/nodes/challenge")).json()
    body = prove(node_body(keys, location), keys, challenge) | {"attestation": attestation}
    headers = {"authorization": f"Bearer {authorization}"} if authorization else {}
    return await config.post("/v1/nodes/register", json=body, headers=headers)


async def test_a_signed_fresh_document_enrolls_and_records_the_instance(
    attesting: Client, fake_aws: FakeAws
) -> None:
    answer = await attest(attesting, new_keys(), fake_aws.attestation(fake_aws.document()))
    assert answer.status_code == 201, answer.text
    nodes = (
        await attesting.get("/v1/nodes", headers={"authorization": f"Bearer {MONITOR_TOKEN}"})
    ).json()["nodes"]
    assert [n["instance_id"] for n in nodes] == ["i-0123456789abcdef0"]


async def test_a_forged_or_altered_document_is_401(attesting: Client, fake_aws: FakeAws) -> None:
    document = fake_aws.document()
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    problem(
        await attest(attesting, new_keys(), fake_aws.attestation(document, signer=forger)),
        401,
        "attestation-invalid",
    )
    signed = fake_aws.attestation(document)
    altered = fake_aws.document(instance_id="i-0fffffffffffffff0")
    import base64

    swapped = {**signed, "document": base64.b64encode(altered).decode()}
    problem(await attest(attesting, new_keys(), swapped), 401, "attestation-invalid")


async def test_another_account_another_region_or_an_old_instance_is_403(
    attesting: Client, fake_aws: FakeAws
) -> None:
    cases = [
        (fake_aws.document(account="999999999999"), "de-fra"),
        (fake_aws.document(region="us-east-1"), "de-fra"),
        (fake_aws.document(), "nl-ams"),  # a location with no region configured
        (fake_aws.document(launched=datetime.now(UTC) - timedelta(hours=2)), "de-fra"),
    ]
    for document, location in cases:
        answer = await attest(attesting, new_keys(), fake_aws.attestation(document), location)
        problem(answer, 403, "attestation-refused")


async def test_an_instance_enrolls_one_key_ever(attesting: Client, fake_aws: FakeAws) -> None:
    signed = fake_aws.attestation(fake_aws.document())
    first = new_keys()
    assert (await attest(attesting, first, signed)).status_code == 201
    problem(await attest(attesting, new_keys(), signed), 409, "instance-enrolled")
    # The same instance and key come back (restart without state): same node, new credential.
    again = await attest(attesting, first, signed)
    assert again.status_code == 201, again.text


async def test_an_old_document_still_registers_its_own_enrolled_key(
    attesting: Client, fake_aws: FakeAws
) -> None:
    """Freshness guards the first use of an instance id only: a node restarted days after
    launch re-registers with the same document."""
    keys = new_keys()
    fresh = fake_aws.document(instance_id="i-0aaaaaaaaaaaaaaa0")
    assert (await attest(attesting, keys, fake_aws.attestation(fresh))).status_code == 201
    attesting_later = fake_aws.document(
        instance_id="i-0aaaaaaaaaaaaaaa0", launched=datetime.now(UTC) - timedelta(days=3)
    )
    answer = await attest(attesting, keys, fake_aws.attestation(attesting_later))
    assert answer.status_code == 201, answer.text


async def test_attestation_is_refused_where_it_is_not_configured(
    config: Client, fake_aws: FakeAws
) -> None:
    answer = await attest(config, new_keys(), fake_aws.attestation(fake_aws.document()))
    problem(answer, 403, "attestation-refused")
