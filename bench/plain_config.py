"""The config role's two hot routes done plainly: the reference for its throughput goals.

A straightforward Litestar app (``bench.plain_config:create_app``, a factory reading the same
``PHOENIX_*`` settings as the role) on the same libraries, served the same way, doing the same
work per request with one sequential await after another — no coalescing, no group commit, no
cache, no kept connection:

- ``POST /v1/connect``: read the body, verify the token (the role's own verification against the
  same issuer directory), ``SET NX`` its spent mark, in one NodeDB transaction take the next
  address of a random active node of the location, insert the lease and ``XADD`` the change
  (before the commit, so one node's changes append in revision order); answer the addresses
  and the node's endpoint;
- ``POST /v1/nodes/{id}/heartbeat``: read the body, store it with one ``SET`` with a TTL.

What it leaves out, the role does on top (and so the plain routes flatter the reference): the
node credential check, problem documents, the access log and metrics, the lease's reconnect and
collision handling, the undo of a mark when the lease fails.

One more route is no goal's anchor but what the heartbeat goal is made of:
``POST /v1/nodes/{id}/checked-heartbeat`` is the plain heartbeat plus what every heartbeat of the
role must do besides its work: check the node's credential (its hash read from NodeDB once and
reused, as the role reuses node records) and pass the role's access log and request metrics.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.asyncio import Redis
from sqlalchemy import text

from phoenix.common.accesslog import AccessLog
from phoenix.common.database import create_engine
from phoenix.common.httpmetrics import RequestMetrics
from phoenix.common.logging import configure_logging
from phoenix.config import credentials, tokens
from phoenix.config.directory import IssuerDirectoryClient
from phoenix.config.schemas import ConnectRequest, Heartbeat
from phoenix.config.settings import ConfigSettings
from phoenix.crypto.wireguard import parse_key
from phoenix.settings import load

LEASE: Final = timedelta(hours=24)
HEARTBEAT_PREFIX: Final = "phoenix:plain:heartbeat:"
SPENT_PREFIX: Final = "phoenix:plain:spent:"
STREAM_PREFIX: Final = "phoenix:plain:peers:"
CHECKED_HEARTBEAT: Final = "/checked-heartbeat"

# One statement takes a random active node of the location and moves its counters on.
_NEXT_ADDRESS = text(
    """
    UPDATE nodes SET next_host = next_host + 1, revision = revision + 1
    WHERE id = (
        SELECT id FROM nodes WHERE location = :location AND status = 'active'
        ORDER BY random() LIMIT 1
    )
    RETURNING id, revision, next_host - 1 AS host, host(ipv4_pool::inet) AS v4,
              host(ipv6_pool::inet) AS v6, public_key, host(public_ip) AS public_ip, listen_port
    """
)
_INSERT_LEASE = text(
    "INSERT INTO leases (public_key, node_id, ipv4, ipv6, expires_at) "
    "VALUES (:key, :node, CAST(:v4 AS inet), CAST(:v6 AS inet), :expires)"
)


def create_app() -> Litestar:
    settings = load(ConfigSettings, os.environ)
    # The role's engine settings (its pool, no overflow): the same driver served the same way.
    engine = create_engine(settings.nodedb_url, pool_size=settings.nodedb_pool_size)
    redis = Redis.from_url(settings.redis_url)
    directory = IssuerDirectoryClient.from_settings(settings)
    challenge = tokens.challenge(settings)
    digests = tokens.accepted_digests(challenge)

    @post("/v1/connect", status_code=200)
    async def connect(request: Request[Any, Any, Any]) -> Response[bytes]:
        body = msgspec.json.decode(await request.body(), type=ConnectRequest)
        try:
            token, until = tokens.redeemable(
                request.headers.get("authorization"), directory, digests, challenge
            )
        except tokens.TokenRejected:
            return Response(b"", status_code=401)
        client_key = parse_key(body.public_key or "")
        digest = hashlib.sha256(token.encode()).hexdigest()
        if not await redis.set(f"{SPENT_PREFIX}{digest}", b"1", nx=True, exat=until):
            return Response(b"", status_code=401)
        expires = datetime.now(UTC) + LEASE
        async with engine.begin() as connection:
            node = (await connection.execute(_NEXT_ADDRESS, {"location": body.location})).one()
            v4 = str(ipaddress.IPv4Address(node.v4) + node.host)
            v6 = str(ipaddress.IPv6Address(node.v6) + node.host)
            await connection.execute(
                _INSERT_LEASE,
                {"key": client_key, "node": node.id, "v4": v4, "v6": v6, "expires": expires},
            )
            # Still holding the node's row: a stream's ids must grow, and two connects to one
            # node that append after their commits can append out of revision order (Redis
            # refuses the smaller id: a 500 seen once in a few runs of bench config).
            change = {
                "revision": node.revision,
                "op": "add",
                "allowed_ips": [f"{v4}/32", f"{v6}/128"],
            }
            await redis.xadd(
                f"{STREAM_PREFIX}{node.id}",
                {"c": msgspec.json.encode(change)},
                id=f"{node.revision}-0",
                maxlen=10_000,
                approximate=True,
            )
        answer = {
            "addresses": [f"{v4}/32", f"{v6}/128"],
            "endpoint": f"{node.public_ip}:{node.listen_port}",
            "public_key": bytes(node.public_key).hex(),
            "expires_at": expires.isoformat(),
        }
        return Response(msgspec.json.encode(answer), media_type="application/json")

    @post("/v1/nodes/{node_id:uuid}/heartbeat", status_code=200)
    async def heartbeat(node_id: uuid.UUID, request: Request[Any, Any, Any]) -> dict[str, Any]:
        raw = await request.body()
        msgspec.json.decode(raw, type=Heartbeat)
        await redis.set(f"{HEARTBEAT_PREFIX}{node_id}", raw, ex=settings.heartbeat_ttl_seconds)
        return {"drain": False}

    hashes: dict[uuid.UUID, bytes | None] = {}

    @post("/v1/nodes/{node_id:uuid}" + CHECKED_HEARTBEAT, status_code=200)
    async def checked_heartbeat(
        node_id: uuid.UUID, request: Request[Any, Any, Any]
    ) -> dict[str, Any]:
        if node_id not in hashes:
            async with engine.connect() as connection:
                hashes[node_id] = (
                    await connection.execute(
                        text("SELECT credential_hash FROM nodes WHERE id = :id"), {"id": node_id}
                    )
                ).scalar_one()
        try:
            credentials.check_hash(
                credentials.bearer(request.headers.get("authorization")), hashes[node_id]
            )
        except credentials.BadCredential:
            raise NotAuthorizedException() from None
        raw = await request.body()
        msgspec.json.decode(raw, type=Heartbeat)
        await redis.set(f"{HEARTBEAT_PREFIX}{node_id}", raw, ex=settings.heartbeat_ttl_seconds)
        return {"drain": False}

    @get("/healthz", sync_to_thread=False)
    def healthz() -> str:  # what a load asks for once its prepared requests are all sent
        return "ok"

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await directory.start()
        try:
            yield
        finally:
            await directory.stop()
            await redis.aclose()
            await engine.dispose()

    app = Litestar([connect, heartbeat, checked_heartbeat, healthz], lifespan=[lifespan])
    configure_logging(settings.log_level, "plain")
    app.asgi_handler = _LoggedWhenChecked(app.asgi_handler)
    return app


class _LoggedWhenChecked:
    """The role's access log and request metrics around the checked heartbeat only: the other
    routes stay the plain work the goals name."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._logged = AccessLog(app, RequestMetrics("phoenix_plain"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["path"].endswith(CHECKED_HEARTBEAT):
            await self._logged(scope, receive, send)
        else:
            await self._app(scope, receive, send)
