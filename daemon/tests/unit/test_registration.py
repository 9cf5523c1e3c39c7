"""How the agent registers: a stored registration is used as it is, else a fresh challenge and
its proof with the right authorization (the node's credential, else its enrollment key, else
only the AWS attestation), and a refused credential gives way to enrolling afresh.

The config role here is a stand-in: the stub HTTP server of ``stub_http.py`` answering the node
API's challenge and register routes as the wire contract says, and checking each proof the way
the server does (its own X25519 key and the node's public key). The daemon's side is all real:
the agent, its httpcore ``ApiClient``, the proof, the key and registration files on tmpfs. The
real config role is exercised by ``tests/integration/node_with_server`` in the server's tree.
The WireGuard backend is built but never called: registering does not touch the interface.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from node_harness.stub_http import Answer, Request, Route, imdsv2, serve
from phoenix_node.agent import Agent
from phoenix_node.api import ApiClient, Registration
from phoenix_node.identity import IdentityStore
from phoenix_node.keys import KeyStore
from phoenix_node.metrics import Metrics
from phoenix_node.proof import Claims, transcript
from phoenix_node.settings import load
from phoenix_node.wireguard import make_backend

ENROLLMENT_KEY = "pnk_single-use-enrollment-key"
NODE_ID = "6f1c1d2e-0000-4000-8000-00000000abcd"
DOCUMENT = b'{\n  "accountId" : "123456789012",\n  "instanceId" : "i-0abc"\n}'
SIGNATURE = "c2lnbmF0dXJl\nb3ZlciB0d28gbGluZXM=\n"

Policy = Callable[[str | None], Answer]  # the Authorization sent → the answer


def registered(credential: str, status: str = "active") -> Answer:
    body = {
        "node_id": NODE_ID,
        "node_credential": credential,
        "ipv4_pool": "10.64.16.0/20",
        "ipv6_pool": "fd00:64:0:1::/64",
        "revision": 42,
        "status": status,
    }
    return Answer(201, json.dumps(body).encode(), {"content-type": "application/json"})


def problem(status: int, title: str, **headers: str) -> Answer:
    body = json.dumps({"status": status, "title": title}).encode()
    return Answer(status, body, {"content-type": "application/problem+json", **headers})


@dataclass
class ConfigRole:
    """The node API's challenge and register routes, per the wire contract."""

    policy: Policy
    server: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate)
    issued: list[bytes] = field(default_factory=list)
    used: set[bytes] = field(default_factory=set)
    registers: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    server_key_override: bytes | None = None

    @property
    def server_key(self) -> bytes:
        return self.server.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/v1/nodes/challenge"): self.challenge,
            ("POST", "/v1/nodes/register"): self.register,
        }

    def challenge(self, request: Request) -> Answer:
        nonce = os.urandom(32)
        self.issued.append(nonce)
        key = self.server_key_override or self.server_key
        body = {"nonce": b64(nonce), "server_key": b64(key), "expires_in": 60}
        return Answer(201, json.dumps(body).encode(), {"content-type": "application/json"})

    def register(self, request: Request) -> Answer:
        body = json.loads(request.body)
        self.registers.append(body)
        authorization = request.headers.get("authorization")
        self.authorizations.append(authorization)
        nonce = base64.b64decode(body["proof"]["nonce"], validate=True)
        if nonce not in self.issued or nonce in self.used:
            return problem(401, "unknown or reused nonce")
        self.used.add(nonce)
        if not hmac.compare_digest(self.expected_mac(body, nonce), b64d(body["proof"]["mac"])):
            return problem(401, "bad proof")
        return self.policy(authorization)

    def expected_mac(self, body: dict[str, Any], nonce: bytes) -> bytes:
        """The server's computation: its private key with the node's public key."""
        node_key = b64d(body["public_key"])
        shared = self.server.exchange(X25519PublicKey.from_public_bytes(node_key))
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=nonce, info=b"phoenix node proof v1")
        claims = Claims(body["location"], body["public_ip"], body["listen_port"])
        message = transcript(nonce, self.server_key, node_key, claims)
        return hmac.new(key.derive(shared), message, sha256).digest()


def a_registration(credential: str) -> Registration:
    return Registration(
        node_id=uuid.UUID(NODE_ID),
        node_credential=credential,
        ipv4_pool="10.64.16.0/20",
        ipv6_pool="fd00:64:0:1::/64",
        revision=1,
        status="active",
    )


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def b64d(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[str], list[dict[str, Any]]]]:
    caplog.set_level(logging.DEBUG, logger="phoenix_node")

    def find(name: str) -> list[dict[str, Any]]:
        return [
            {"level": r.levelname, **getattr(r, "fields", {})}
            for r in caplog.records
            if r.getMessage() == name
        ]

    yield find
    shown = json.dumps([getattr(r, "fields", {}) for r in caplog.records], default=str)
    assert "credential-" not in shown  # no credential in any log line of any test here
    assert ENROLLMENT_KEY not in shown


def make_agent(ram_dir: Path, api_url: str, **env: str) -> Agent:
    settings = load(
        {
            "PHOENIX_NODE_API_URL": api_url,
            "PHOENIX_NODE_REGION": "de-fra",
            "PHOENIX_NODE_PUBLIC_IP": "203.0.113.9",
            "PHOENIX_NODE_KEY_DIR": str(ram_dir),
            "PHOENIX_NODE_BACKOFF_MAX_SECONDS": "0.05",
            **env,
        }
    )
    store = KeyStore(ram_dir)
    keys, _ = store.load_or_create()
    api = ApiClient(settings.api_url, timeout=5, poll_wait=0)
    backend = make_backend("uapi", "wgunit0")  # never called by restore() or register()
    return Agent(settings, keys, backend, api, Metrics(), IdentityStore(store))


async def register(agent: Agent) -> Registration:
    """``agent.register()`` retries until accepted; a test that breaks fails instead of waiting."""
    async with asyncio.timeout(5):
        return await agent.register()


def with_key(ram_dir: Path, url: str) -> Agent:
    return make_agent(ram_dir, url, PHOENIX_NODE_ENROLLMENT_KEY=ENROLLMENT_KEY)


def stored(agent: Agent) -> Registration | None:
    return agent.identity.load(agent.keys.public_base64)


async def test_a_first_start_proves_the_key_to_a_fresh_challenge_and_enrolls_with_its_key(
    ram_dir: Path, logged: Any
) -> None:
    role = ConfigRole(lambda auth: registered("credential-1"))
    with serve(role.routes()) as stub:
        agent = with_key(ram_dir, stub.url)
        assert agent.restore() is None
        registration = await register(agent)
        await agent.api.aclose()
    challenge, registering = stub.seen
    assert (challenge.method, challenge.path) == ("POST", "/v1/nodes/challenge")
    assert "authorization" not in challenge.headers
    assert registering.headers["authorization"] == f"Bearer {ENROLLMENT_KEY}"
    [body] = role.registers
    assert set(body) == {
        "public_ip",
        "public_key",
        "location",
        "listen_port",
        "capacity",
        "proof",
        "attestation",
    }
    assert body["public_key"] == agent.keys.public_base64
    assert (body["location"], body["public_ip"], body["listen_port"]) == (
        "de-fra",
        "203.0.113.9",
        51820,
    )
    assert b64d(body["proof"]["nonce"]) == role.issued[0]
    assert body["attestation"] is None  # sent, as null
    assert role.used == {role.issued[0]}  # the stand-in verified the proof
    assert str(registration.node_id) == NODE_ID
    assert stored(agent) == registration
    [done] = logged("register_done")
    assert done == {
        "level": "INFO",
        "via": "enrollment_key",
        "node_id": NODE_ID,
        "status": "active",
        "ipv4_pool": "10.64.16.0/20",
        "ipv6_pool": "fd00:64:0:1::/64",
    }


async def test_a_restart_with_a_stored_registration_needs_no_api(
    ram_dir: Path, logged: Any
) -> None:
    first = with_key(ram_dir, "http://127.0.0.1:9")
    first.identity.save(first.keys.public_base64, a_registration("credential-1"))
    # Port 9 (discard) has no listener: had the agent asked the API, it would have failed.
    again = with_key(ram_dir, "http://127.0.0.1:9")
    restored = again.restore()
    assert restored == a_registration("credential-1")
    assert logged("register_restored")[0]["node_id"] == NODE_ID
    assert not logged("register_trying")


async def test_a_stored_registration_of_another_key_is_discarded_and_the_node_enrolls(
    ram_dir: Path, logged: Any
) -> None:
    agent = with_key(ram_dir, "http://127.0.0.1:9")
    agent.identity.save("A" * 43 + "=", a_registration("credential-1"))
    assert agent.restore() is None
    assert "another WireGuard key" in logged("identity_discarded")[0]["reason"]
    assert not agent.identity.path.exists()


async def test_re_registering_with_the_credential_keeps_the_node_and_stores_the_renewal(
    ram_dir: Path, logged: Any
) -> None:
    role = ConfigRole(lambda auth: registered("credential-2"))
    with serve(role.routes()) as stub:
        agent = with_key(ram_dir, stub.url)
        agent.identity.save(agent.keys.public_base64, a_registration("credential-1"))
        agent.registration = agent.restore()  # as after NodeForgotten on a heartbeat
        renewed = await register(agent)
        await agent.api.aclose()
    assert role.authorizations == ["Bearer credential-1"]
    assert renewed.node_credential == "credential-2"
    assert stored(agent) == renewed
    assert logged("register_done")[0]["via"] == "credential"


async def test_a_refused_credential_is_dropped_and_the_enrollment_key_is_used_next(
    ram_dir: Path, logged: Any
) -> None:
    def policy(auth: str | None) -> Answer:
        if auth == "Bearer credential-1":
            return problem(401, "unknown node credential")
        return registered("credential-2")

    role = ConfigRole(policy)
    with serve(role.routes()) as stub:
        agent = with_key(ram_dir, stub.url)
        agent.identity.save(agent.keys.public_base64, a_registration("credential-1"))
        agent.registration = agent.restore()
        registration = await register(agent)
        await agent.api.aclose()
    assert role.authorizations == ["Bearer credential-1", f"Bearer {ENROLLMENT_KEY}"]
    # A fresh challenge for each attempt; each proof answers its own.
    assert [b64d(body["proof"]["nonce"]) for body in role.registers] == role.issued
    assert len(set(role.issued)) == 2
    [refused] = logged("credential_refused")
    assert (refused["level"], refused["next"]) == ("WARNING", "enrollment_key")
    assert "HTTP 401" in refused["reason"]
    assert stored(agent) == registration
    assert registration.node_credential == "credential-2"


async def test_on_aws_the_attestation_goes_along_and_no_key_is_sent(
    ram_dir: Path, logged: Any
) -> None:
    role = ConfigRole(lambda auth: registered("credential-1", status="pending"))
    with serve(imdsv2(DOCUMENT, SIGNATURE)) as imds, serve(role.routes()) as stub:
        agent = make_agent(
            ram_dir, stub.url, PHOENIX_NODE_ATTESTATION="aws", PHOENIX_NODE_IMDS_URL=imds.url
        )
        registration = await register(agent)
        await agent.api.aclose()
    assert role.authorizations == [None]
    [body] = role.registers
    assert b64d(body["attestation"]["document"]) == DOCUMENT
    assert body["attestation"]["signature"] == "c2lnbmF0dXJlb3ZlciB0d28gbGluZXM="
    assert registration.status == "pending"
    [done] = logged("register_done")
    assert (done["via"], done["status"]) == ("attestation", "pending")


async def test_on_aws_an_enrollment_key_is_sent_together_with_the_attestation(
    ram_dir: Path, logged: Any
) -> None:
    role = ConfigRole(lambda auth: registered("credential-1"))
    with serve(imdsv2(DOCUMENT, SIGNATURE)) as imds, serve(role.routes()) as stub:
        agent = make_agent(
            ram_dir,
            stub.url,
            PHOENIX_NODE_ATTESTATION="aws",
            PHOENIX_NODE_IMDS_URL=imds.url,
            PHOENIX_NODE_ENROLLMENT_KEY=ENROLLMENT_KEY,
        )
        await register(agent)
        await agent.api.aclose()
    assert role.authorizations == [f"Bearer {ENROLLMENT_KEY}"]
    assert role.registers[0]["attestation"] is not None


async def test_a_conflict_is_logged_as_an_error_and_retried_with_backoff(
    ram_dir: Path, logged: Any
) -> None:
    answers = iter([problem(409, "the key is already registered"), registered("credential-1")])
    role = ConfigRole(lambda auth: next(answers))
    with serve(role.routes()) as stub:
        agent = with_key(ram_dir, stub.url)
        await register(agent)
        await agent.api.aclose()
    [failed] = logged("register_failed")
    assert failed["level"] == "ERROR"
    assert "HTTP 409 the key is already registered" in failed["reason"]
    assert len(role.issued) == 2  # the retry asked for a new challenge
    assert logged("register_done")


async def test_a_capped_registration_waits_as_long_as_retry_after_says(
    ram_dir: Path, logged: Any
) -> None:
    answers = iter([problem(429, "registrations capped", **{"retry-after": "1"}), registered("c")])
    role = ConfigRole(lambda auth: next(answers))
    with serve(role.routes()) as stub:
        agent = with_key(ram_dir, stub.url)
        started = time.monotonic()
        await register(agent)
        elapsed = time.monotonic() - started
        await agent.api.aclose()
    [failed] = logged("register_failed")
    assert (failed["level"], failed["retry_in"]) == ("WARNING", 1.0)
    assert elapsed >= 1.0  # not the 0.05 s the backoff alone would allow


async def test_a_low_order_server_key_gets_no_proof_and_a_new_challenge(
    ram_dir: Path, logged: Any
) -> None:
    role = ConfigRole(lambda auth: registered("credential-1"))
    role.server_key_override = bytes(32)  # an all-zero point: any MAC over it is forgeable
    with serve(role.routes()) as stub:
        agent = with_key(ram_dir, stub.url)

        def fix_after_first(request: Request) -> Answer:
            answer = role.challenge(request)
            role.server_key_override = None
            return answer

        stub.routes[("POST", "/v1/nodes/challenge")] = fix_after_first
        await register(agent)
        await agent.api.aclose()
    assert [r.path for r in stub.seen] == [
        "/v1/nodes/challenge",
        "/v1/nodes/challenge",
        "/v1/nodes/register",
    ]
    assert "low order" in logged("register_failed")[0]["reason"]


async def test_an_imds_failure_is_logged_as_attestation_failed_and_retried(
    ram_dir: Path, logged: Any
) -> None:
    routes = imdsv2(DOCUMENT, SIGNATURE)
    token = routes[("PUT", "/latest/api/token")]
    answers = iter([Answer(503)])
    routes[("PUT", "/latest/api/token")] = lambda request: next(answers, None) or token(request)
    role = ConfigRole(lambda auth: registered("credential-1"))
    with serve(routes) as imds, serve(role.routes()) as stub:
        agent = make_agent(
            ram_dir, stub.url, PHOENIX_NODE_ATTESTATION="aws", PHOENIX_NODE_IMDS_URL=imds.url
        )
        await register(agent)
        await agent.api.aclose()
    [failed] = logged("attestation_failed")
    assert failed["level"] == "WARNING"
    assert "api/token: HTTP 503" in failed["reason"]
    assert len(role.issued) == 1  # no challenge was spent while IMDS failed


@pytest.mark.parametrize(
    ("address", "taken"),
    [
        ("100.64.0.2", True),
        ("10.200.0.53", True),
        ("8.8.8.8", False),  # the node would capture clients' traffic to a public resolver
        ("169.254.169.254", False),  # the metadata service
        ("127.0.0.53", False),
        ("224.0.0.251", False),
        ("0.0.0.0", False),
        ("240.0.0.1", False),
        ("fd00::53", False),
        ("not an address", False),
    ],
)
def test_a_registration_names_only_tunnel_resolver_addresses(address: str, taken: bool) -> None:
    from phoenix_node.agent import tunnel_only

    assert tunnel_only(address) is taken
