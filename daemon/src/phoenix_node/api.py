"""The config role's node API, as the daemon speaks it: challenge, register, heartbeat, peer feed.

Every failure becomes one of three exceptions the agent's loop acts on: the API is unreachable
(keep every peer, retry), the API forgot this node or its credential (register again), or the
API refuses what we sent (log it, retry later: an operator has to act). Binary fields cross the
wire as standard base64, which is how msgspec encodes and decodes ``bytes``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlencode

import httpcore
import msgspec

from phoenix_node import __version__


class ApiError(Exception):
    """Base of the API client's errors; the message never carries a credential."""


class ApiUnavailable(ApiError):
    """No answer, or a 5xx / 429: the control plane is down or busy."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds the API asked us to wait (Retry-After)


class NodeForgotten(ApiError):
    """404 or 401 for our node id and credential: the registry lost us, register again."""


class ApiRefused(ApiError):
    """Any other 4xx: what we sent is wrong (a used enrollment key, a moved node, a setting)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


Bytes32 = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


class Challenge(msgspec.Struct, frozen=True):
    """A single-use nonce and the server's X25519 key for this one registration."""

    nonce: Bytes32
    server_key: Bytes32
    expires_in: int


class Proof(msgspec.Struct, frozen=True):
    nonce: Bytes32
    mac: Bytes32


class Attestation(msgspec.Struct, frozen=True):
    """AWS's signed instance identity: the document's exact bytes and IMDS's signature text."""

    document: bytes
    signature: str


class RegisterRequest(msgspec.Struct, frozen=True):
    public_ip: str
    public_key: str
    location: str
    listen_port: int
    capacity: int
    proof: Proof
    attestation: Attestation | None = None  # sent as null when absent, as the contract says


class Registration(msgspec.Struct, frozen=True):
    node_id: uuid.UUID
    node_credential: str
    ipv4_pool: str
    ipv6_pool: str
    revision: int
    status: Literal["active", "pending"]  # pending: heartbeats, but no users until approved
    # DNS blocking variant → the resolver address this node serves it on (an older API: none).
    resolvers: dict[str, str] = msgspec.field(default_factory=dict)

    def __repr__(self) -> str:  # never print the credential
        return (
            f"Registration(node_id={self.node_id}, ipv4_pool={self.ipv4_pool},"
            f" status={self.status})"
        )


class Heartbeat(msgspec.Struct, frozen=True, omit_defaults=True):
    """Omitted while at their default, new fields do not stop a config that predates them."""

    peers: int
    active_peers: int
    rx_bytes: int
    tx_bytes: int
    cpu: float
    load1: float
    mem_used: float
    applied_revision: int
    guard_held: bool = False


class HeartbeatAnswer(msgspec.Struct, frozen=True):
    drain: bool
    revision: int


class Peer(msgspec.Struct, frozen=True):
    public_key: str
    allowed_ips: list[str]


class Change(msgspec.Struct, frozen=True):
    revision: int
    op: Literal["add", "remove"]
    public_key: str
    allowed_ips: list[str]


class PeerFeed(msgspec.Struct, frozen=True):
    revision: int
    snapshot: bool
    changes: list[Change] = []
    peers: list[Peer] | None = None


T = TypeVar("T")


# httpcore (the transport under httpx) rather than httpx: the daemon needs plain requests on a
# kept-alive pool, and httpx's extras cost several MB of resident memory on every node.
NETWORK_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    OSError,
)


class ApiClient:
    def __init__(self, base_url: str, timeout: float, poll_wait: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.poll_wait = poll_wait
        self._pool = httpcore.AsyncConnectionPool(max_connections=4)

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def challenge(self) -> Challenge:
        return await self._call("POST", "/v1/nodes/challenge", None, Challenge)

    async def register(self, credential: str | None, request: RegisterRequest) -> Registration:
        """``credential``: an enrollment key, the node's own credential, or None (attestation)."""
        return await self._call(
            "POST",
            "/v1/nodes/register",
            credential,
            Registration,
            body=msgspec.json.encode(request),
        )

    async def heartbeat(self, node: Registration, beat: Heartbeat) -> HeartbeatAnswer:
        return await self._call(
            "POST",
            f"/v1/nodes/{node.node_id}/heartbeat",
            node.node_credential,
            HeartbeatAnswer,
            body=msgspec.json.encode(beat),
            about_node=True,
        )

    async def peers(self, node: Registration, since: int) -> PeerFeed:
        return await self._call(
            "GET",
            f"/v1/nodes/{node.node_id}/peers",
            node.node_credential,
            PeerFeed,
            params={"since": since, "wait": self.poll_wait},
            extra_timeout=self.poll_wait,
            about_node=True,
        )

    async def _call(
        self,
        method: str,
        path: str,
        credential: str | None,
        answer_type: type[T],
        *,
        body: bytes | None = None,
        params: dict[str, float] | None = None,
        extra_timeout: float = 0.0,
        about_node: bool = False,
    ) -> T:
        """``about_node``: a call under ``/v1/nodes/{id}/``, where 401/404 mean we were forgotten
        (at the challenge and the registration they mean a refused key or proof)."""
        url = self.base_url + path + ("?" + urlencode(params) if params else "")
        headers = [(b"user-agent", f"phoenix-node/{__version__}".encode())]
        if credential is not None:
            headers.append((b"authorization", f"Bearer {credential}".encode()))
        if body is not None:
            headers.append((b"content-type", b"application/json"))
        timeout = self.timeout + extra_timeout
        try:
            answer = await self._pool.request(
                method,
                url,
                headers=headers,
                content=body,
                extensions={
                    "timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)
                },
            )
        except NETWORK_ERRORS as error:
            raise ApiUnavailable(f"{method} {path}: {type(error).__name__}") from None
        status = answer.status
        if status >= 500 or status == 429:
            raise ApiUnavailable(f"{method} {path}: HTTP {status}", _retry_after(answer))
        if status in (401, 404) and about_node:
            raise NodeForgotten(f"{method} {path}: HTTP {status}")
        if status >= 400:
            raise ApiRefused(f"{method} {path}: HTTP {status} {_problem_title(answer)}", status)
        try:
            return msgspec.json.decode(answer.content, type=answer_type)
        except msgspec.DecodeError as error:
            raise ApiUnavailable(f"{method} {path}: unexpected answer ({error})") from None


class _Problem(msgspec.Struct):
    title: str = ""


def _retry_after(answer: httpcore.Response) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not used by the config role)."""
    for name, value in answer.headers:
        if name.lower() == b"retry-after":
            try:
                return min(max(float(value), 0.0), 3600.0)
            except ValueError:
                return None
    return None


def _problem_title(answer: httpcore.Response) -> str:
    try:
        return msgspec.json.decode(answer.content, type=_Problem).title[:200]
    except msgspec.DecodeError:
        return ""
