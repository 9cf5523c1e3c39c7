"""A running auth role wired to real Postgres, the real Firebase Auth emulator, a private Apple
signing chain, and the Stripe API stub (the one stand-in: Stripe cannot be reached from here).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.crypto.privacypass.issuance import build_token_request
from phoenix.crypto.privacypass.structures import TokenChallenge
from phoenix.crypto.privacypass.token_key import TokenKey
from tests.harness import stripe as stripe_harness
from tests.harness.apple import AppleChain
from tests.harness.firebase import EmulatorUser, FirebaseAuthEmulator
from tests.harness.processes import RoleServer

ADMIN_TOKEN = "auth-operator-token-" + "a" * 24
CHALLENGE = TokenChallenge(2, "auth.phoenix.test", b"", "config.phoenix.test")


@dataclass
class Person:
    user: EmulatorUser

    @property
    def uid(self) -> str:
        return self.user.uid

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.user.id_token}"}


@dataclass
class BillingWorld:
    server: RoleServer
    http: httpx.AsyncClient
    emulator: FirebaseAuthEmulator
    stub: stripe_harness.StripeStub
    apple: AppleChain
    userdb: AsyncEngine
    log_path: Path

    async def person(self) -> Person:
        return Person(await asyncio.to_thread(self.emulator.sign_up))

    async def account(self, person: Person) -> dict[str, Any]:
        answer = await self.http.get("/v1/account", headers=person.headers)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def token_status(self, person: Person) -> int:
        """What the issuer's gate answers this person for one token."""
        directory = (await self.http.get("/.well-known/private-token-issuer-directory")).json()
        key = TokenKey.from_base64url(directory["token-keys"][0]["token-key"])
        request, _ = build_token_request(CHALLENGE, key)
        answer = await self.http.post(
            "/v1/tokens",
            content=request.encode(),
            headers={**person.headers, "content-type": "application/private-token-request"},
        )
        return answer.status_code

    async def stripe(self, body: bytes, *, at: int | None = None, **headers: str) -> httpx.Response:
        sent = {"stripe-signature": stripe_harness.signature_header(body, at=at), **headers}
        return await self.http.post("/v1/webhooks/stripe", content=body, headers=sent)

    async def apple_post(self, signed_payload: str) -> httpx.Response:
        return await self.http.post("/v1/webhooks/apple", json={"signedPayload": signed_payload})

    async def customer_for(self, person: Person) -> str:
        """Link a Stripe customer the way a completed checkout does (for a signed-in user: a
        checkout is started by one, whose row is there)."""
        await self.account(person)
        customer = f"cus_{uuid.uuid4().hex[:14]}"
        session = stripe_harness.checkout_session(person.uid, customer, None)
        answer = await self.stripe(stripe_harness.event("checkout.session.completed", session))
        assert answer.status_code == 200, answer.text
        return customer

    async def scalar(self, query: str, **params: Any) -> Any:
        async with self.userdb.connect() as connection:
            return (await connection.execute(text(query), params)).scalar()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def metrics(self) -> str:
        async with httpx.AsyncClient(base_url=self.server.ops_url, timeout=10) as ops:
            answer = await ops.get("/metrics")
        assert answer.status_code == 200, answer.text
        return answer.text


def problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    document: dict[str, Any] = json.loads(answer.content)
    return document
