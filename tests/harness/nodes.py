"""Exit nodes as tests enroll them: a real X25519 key pair, a challenge, a proof, a key.

Every registration proves possession of the node's private key (phoenix.crypto.nodeproof), so a
test node is a key pair, not just a public key. ``enroll`` is the whole path an operator and a
node take: the operator mints a single-use enrollment key, the node asks for a challenge,
proves its key and registers with the enrollment key. Sync and async clients both work (an
httpx client, or Litestar's test client).
"""

from __future__ import annotations

import base64
import inspect
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from phoenix.crypto import nodeproof
from phoenix.crypto.wireguard import generate_keypair

OPERATOR_TOKEN = "fleet-operator-token-" + "p" * 24
OPERATOR = {"authorization": f"Bearer {OPERATOR_TOKEN}"}
PUBLIC_IP = "203.0.114.10"  # global unicast, never contacted: registration only records it

T = TypeVar("T")


@dataclass(frozen=True)
class NodeKeys:
    private: bytes = field(repr=False)
    public: bytes

    @property
    def public_b64(self) -> str:
        return base64.b64encode(self.public).decode()


def new_keys() -> NodeKeys:
    private, public = generate_keypair()
    return NodeKeys(private, public)


def node_body(
    keys: NodeKeys | None = None, location: str = "de-fra", **changes: Any
) -> dict[str, Any]:
    """A registration body without its proof (``prove`` adds it)."""
    return {
        "public_ip": PUBLIC_IP,
        "public_key": (keys or new_keys()).public_b64,
        "location": location,
        "listen_port": 51820,
        "capacity": 100,
        **changes,
    }


def prove(body: dict[str, Any], keys: NodeKeys, challenge: dict[str, Any]) -> dict[str, Any]:
    nonce = base64.b64decode(challenge["nonce"])
    server_key = base64.b64decode(challenge["server_key"])
    claims = nodeproof.Claims(body["location"], body["public_ip"], body.get("listen_port", 51820))
    mac = nodeproof.prove(keys.private, keys.public, nonce, server_key, claims)
    return {**body, "proof": {"nonce": challenge["nonce"], "mac": base64.b64encode(mac).decode()}}


async def _maybe(value: T | Awaitable[T]) -> T:
    if inspect.isawaitable(value):
        return await value
    return value


def bearer(secret: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"} if secret else {}


async def mint(client: Any, location: str = "de-fra", count: int = 1, **extra: Any) -> list[str]:
    answer = await _maybe(
        client.post(
            "/v1/admin/enrollment-keys",
            json={"location": location, "count": count, **extra},
            headers=OPERATOR,
        )
    )
    assert answer.status_code == 201, answer.text
    keys: list[str] = answer.json()["keys"]
    return keys


async def register(
    client: Any, keys: NodeKeys, body: dict[str, Any], authorization: str | None
) -> Any:
    """One registration attempt with a fresh challenge; the answer as it came."""
    challenge = await _maybe(client.post("/v1/nodes/challenge"))
    assert challenge.status_code == 201, challenge.text
    proven = prove(body, keys, challenge.json())
    return await _maybe(
        client.post("/v1/nodes/register", json=proven, headers=bearer(authorization))
    )


@dataclass
class Enrolled:
    keys: NodeKeys
    answer: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.answer["node_id"])

    @property
    def credential(self) -> str:
        return str(self.answer["node_credential"])

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.credential)


async def enroll(
    client: Any, location: str = "de-fra", keys: NodeKeys | None = None, **changes: Any
) -> Enrolled:
    """Mint a key for ``location`` and register a node with it (201 or the test fails)."""
    keys = keys or new_keys()
    (key,) = await mint(client, location)
    answer = await register(client, keys, node_body(keys, location, **changes), key)
    assert answer.status_code == 201, answer.text
    return Enrolled(keys, answer.json())


def enroll_sync(client: Any, location: str = "de-fra", **changes: Any) -> Enrolled:
    """``enroll`` for a synchronous client (httpx.Client with a base_url)."""
    import asyncio

    return asyncio.run(enroll(client, location, **changes))


def mint_sync(base_url: str, location: str = "de-fra") -> str:
    """One enrollment key from a running config role (for a daemon under test)."""
    import httpx

    answer = httpx.post(
        base_url + "/v1/admin/enrollment-keys",
        json={"location": location},
        headers=OPERATOR,
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["keys"][0])
