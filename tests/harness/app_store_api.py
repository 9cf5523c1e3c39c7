"""The App Store Server API for tests — a fake, named so: Apple's API cannot be reached from here.

A local HTTP server answering the two calls billing reconciliation makes, as Apple documents
them: Get All Subscription Statuses (``GET /inApps/v1/subscriptions/{transactionId}``) and Get
Notification History (``POST /inApps/v1/notifications/history``, 20 a page, ``paginationToken``).
What it answers is signed by the test's AppleChain, so the role verifies it exactly as it would
Apple's. It checks each request's credential as Apple does: a bearer ES256 JWT signed by the
in-app purchase key whose ``kid``, issuer and bundle id it was given, audience
``appstoreconnect-v1``, not expired; anything else is a 401.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from tests.harness import local_http
from tests.harness.apple import AppleChain

KEY_ID = "TESTKEY123"
ISSUER_ID = "57246542-96fe-1a63-e053-0824d011072a"
PAGE = 20  # Apple's page of notification history


@dataclass
class Subscription:
    """One subscription as Apple holds it: its status and the claims of its latest transaction
    and renewal info (signed afresh, dated now, at each answer — as Apple signs them)."""

    status: int
    transaction: dict[str, Any]
    renewal: dict[str, Any] | None = None


@dataclass
class AppStoreApiStub:
    chain: AppleChain
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    # original transaction id -> its subscription
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    # (signedDate ms, signedPayload) of every notification Apple sent, delivered or not
    history: list[tuple[int, str]] = field(default_factory=list)
    failing: bool = False
    page_size: int = PAGE
    calls: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def key_pem(self) -> str:
        """The in-app purchase key as App Store Connect hands it out (a PKCS#8 .p8)."""
        return self.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()

    @property
    def url(self) -> str:
        return local_http.url_of(self._server)

    def sent(self, signed_payload: str) -> str:
        """Record a notification Apple sent (whether or not it arrived); return it."""
        signed_date = jwt.decode(signed_payload, options={"verify_signature": False})["signedDate"]
        self.history.append((int(signed_date), signed_payload))
        return signed_payload

    def start(self) -> AppStoreApiStub:
        stub = self

        class Handler(local_http.JsonHandler):
            def _answer(self) -> None:
                raw = self.body()
                stub.calls.append(f"{self.command} {urlsplit(self.path).path}")
                if not stub.authorized(self.headers.get("authorization", "")):
                    self.send_json(401, None)
                    return
                self.send_json(*stub.answer(self.command, self.path, json.loads(raw or b"{}")))

            do_GET = do_POST = _answer

        self._server = local_http.serve(Handler)
        return self

    def stop(self) -> None:
        local_http.close(self._server)

    def authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            return False
        try:
            if jwt.get_unverified_header(token).get("kid") != KEY_ID:
                return False
            claims = jwt.decode(
                token, self.key.public_key(), algorithms=["ES256"], audience="appstoreconnect-v1"
            )
        except jwt.PyJWTError:
            return False
        return bool(claims.get("iss") == ISSUER_ID and claims.get("bid") == self.chain.bundle_id)

    def answer(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if self.failing:
            return 500, {"errorCode": 5000000, "errorMessage": "An unknown error occurred."}
        parts = urlsplit(path)
        segments = parts.path.strip("/").split("/")
        if method == "GET" and segments[:3] == ["inApps", "v1", "subscriptions"]:
            return self._statuses(segments[3])
        if method == "POST" and parts.path == "/inApps/v1/notifications/history":
            token = parse_qs(parts.query).get("paginationToken", ["0"])[0]
            return 200, self._history(body, int(token))
        return 404, {"errorCode": 4040000, "errorMessage": "not stubbed"}

    def _statuses(self, original_transaction_id: str) -> tuple[int, Any]:
        found = self.subscriptions.get(original_transaction_id)
        if found is None:
            return 404, {"errorCode": 4040005, "errorMessage": "Original transaction id not found."}
        now_ms = self.chain.tick()  # signed when asked: after every notification before it
        last: dict[str, Any] = {
            "originalTransactionId": original_transaction_id,
            "status": found.status,
            "signedTransactionInfo": self.chain.sign({**found.transaction, "signedDate": now_ms}),
        }
        if found.renewal is not None:
            last["signedRenewalInfo"] = self.chain.sign({**found.renewal, "signedDate": now_ms})
        return 200, {
            "environment": self.chain.environment,
            "bundleId": self.chain.bundle_id,
            "appAppleId": self.chain.app_id,
            "data": [{"subscriptionGroupIdentifier": "21000001", "lastTransactions": [last]}],
        }

    def _history(self, request: dict[str, Any], offset: int) -> dict[str, Any]:
        start, end = int(request["startDate"]), int(request["endDate"])
        matching = sorted(item for item in self.history if start <= item[0] <= end)
        page = matching[offset : offset + self.page_size]
        more = offset + self.page_size < len(matching)
        return {
            "notificationHistory": [
                {
                    "signedPayload": payload,
                    "sendAttempts": [
                        {"attemptDate": signed, "sendAttemptResult": "TIMED_OUT"},
                    ],
                }
                for signed, payload in page
            ],
            "hasMore": more,
            "paginationToken": str(offset + self.page_size) if more else None,
        }
