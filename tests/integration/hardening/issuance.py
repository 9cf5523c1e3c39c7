"""An entitled user of the running auth role and their token requests, for load and faults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from phoenix.auth import users
from phoenix.crypto.privacypass.issuance import build_token_request
from phoenix.crypto.privacypass.token_key import TokenKey
from tests.integration.auth.billing_world import CHALLENGE, BillingWorld, Person


@dataclass(frozen=True)
class Issuance:
    person: Person
    token_key: TokenKey

    @classmethod
    async def entitled(cls, billing: BillingWorld) -> Issuance:
        """A new emulator user with 30 days of entitlement, and the issuer's current key."""
        person = await billing.person()
        async with billing.userdb.begin() as connection:
            await users.upsert_user(connection, person.uid, person.user.email)
            await users.grant(connection, person.uid, 30, datetime.now(UTC))
        directory = (await billing.http.get("/.well-known/private-token-issuer-directory")).json()
        return cls(person, TokenKey.from_base64url(directory["token-keys"][0]["token-key"]))

    async def issue(self, client: httpx.AsyncClient) -> int:
        """POST one fresh TokenRequest; the status code."""
        request, _ = build_token_request(CHALLENGE, self.token_key)
        sent = {**self.person.headers, "content-type": "application/private-token-request"}
        answer = await client.post("/v1/tokens", content=request.encode(), headers=sent)
        return answer.status_code
