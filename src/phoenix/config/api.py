"""The config role's HTTP surface: locations, the node API and the fleet monitor's endpoints."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, Parameter
from litestar.types import ASGIApp, ControllerRouterHandler
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.common import database
from phoenix.common.answers import Answer
from phoenix.common.bodies import JSON_BODY_PROBLEMS, decode_json
from phoenix.common.database import DatabaseUnavailable
from phoenix.common.openapi import NOT_MODIFIED, json_body, problem_answers
from phoenix.config import credentials, feed, fleet, leases, redemption, spent, tokens
from phoenix.config.coalesce import Coalescer
from phoenix.config.credentials import BadCredential
from phoenix.config.directory import IssuerDirectoryUnavailable
from phoenix.config.fleet import UnknownNode
from phoenix.config.models import Node
from phoenix.config.nodes.sweeper import retire_streams
from phoenix.config.recent import Recent
from phoenix.config.redemption import Redeemer
from phoenix.config.redis_errors import RedisUnavailable
from phoenix.config.schemas import (
    ChallengeEntry,
    Challenges,
    ConnectRequest,
    DrainRequest,
    Heartbeat,
    HeartbeatAnswer,
    LoadBucket,
    Location,
    Locations,
    NodeList,
    NodeSummary,
)
from phoenix.config.selection import NodeLoad
from phoenix.config.wgconfig import WireGuardConfig, render_wg_quick
from phoenix.crypto.privacypass import b64url_encode

LOCATIONS_MAX_AGE = 15
WG_QUICK = b"text/plain; charset=utf-8"  # a wg-quick file, for Accept: text/plain
MAX_WAIT_SECONDS = 25.0
NodeStatus = Literal["pending", "active", "lost", "draining", "drained", "terminated"]  # else 400
# Every route below reads NodeDB or Redis; either away is a 503.
STORES_AWAY = (DatabaseUnavailable, RedisUnavailable)
# A node's own routes: its credential, its id (a path that is no UUID matches no route: 404 too).
AS_NODE = (BadCredential, UnknownNode, *STORES_AWAY)
AS_MONITOR = (BadCredential, *STORES_AWAY)


def fleet_routes(
    engine: AsyncEngine,
    redis: Redis,
    writes: Coalescer,
    monitor_token: str,
    heartbeat_ttl: int,
    feed_redis: Redis,
    node_records: Recent[uuid.UUID, fleet.NodeRecord],
    location_loads: Recent[str, list[NodeLoad]],
) -> list[ControllerRouterHandler]:
    def changed(node_id: uuid.UUID) -> None:
        node_records.forget(node_id)
        location_loads.forget()

    def monitor(request: Request[Any, Any, Any]) -> None:
        credentials.check_any(
            credentials.bearer(request.headers.get("authorization")),
            [monitor_token] if monitor_token else [],
        )

    @post(
        "/v1/nodes/{node_id:uuid}/heartbeat",
        status_code=200,
        tags=["nodes"],
        operation_class=json_body(Heartbeat, "The node's counters and applied revision"),
        responses={
            200: ResponseSpec(HeartbeatAnswer, description="Whether to drain; the revision"),
            **problem_answers(*AS_NODE, *JSON_BODY_PROBLEMS),
        },
    )
    async def heartbeat(request: Request[Any, Any, Any], node_id: FromPath[uuid.UUID]) -> ASGIApp:
        # Every node, every few seconds: the answer is sent as is (phoenix.common.answers).
        node = await fleet.authenticate(
            engine, node_id, request.headers.get("authorization"), node_records
        )
        beat = await decode_json(request, Heartbeat)
        drain, revision = await fleet.heartbeat(engine, redis, writes, node, beat, heartbeat_ttl)
        if node.status == "draining":
            changed(node_id)  # it may have just become drained
        return Answer.json(HeartbeatAnswer(drain=drain, revision=revision))

    @get(
        "/v1/locations",
        tags=["public"],
        summary="Where one can connect, and how busy it is",
        # The body is sent pre-encoded (bytes): without this the document would say "string".
        responses={
            200: ResponseSpec(Locations, description="Locations and their load"),
            304: NOT_MODIFIED,
            **problem_answers(*STORES_AWAY),
        },
    )
    async def locations(request: Request[Any, Any, Any]) -> Response[bytes]:
        body = msgspec.json.encode(await _locations(engine, redis))
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": f"public, max-age={LOCATIONS_MAX_AGE}"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(b"", status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    @post(
        "/node/drain",
        status_code=200,
        tags=["monitor"],
        summary="Start draining a node",
        operation_class=json_body(DrainRequest, "Which node, and why"),
        responses=problem_answers(*AS_MONITOR, *JSON_BODY_PROBLEMS, UnknownNode),
    )
    async def drain(request: Request[Any, Any, Any]) -> dict[str, str]:
        monitor(request)
        body = await decode_json(request, DrainRequest)
        await fleet.drain(engine, redis, body.id, body.reason)
        changed(body.id)
        return {"id": str(body.id), "status": "draining"}

    @post(
        "/v1/nodes/{node_id:uuid}/undrain",
        status_code=200,
        tags=["monitor"],
        responses=problem_answers(*AS_MONITOR, UnknownNode),
    )
    async def undrain(
        request: Request[Any, Any, Any], node_id: FromPath[uuid.UUID]
    ) -> dict[str, str]:
        monitor(request)
        await fleet.undrain(engine, node_id)
        changed(node_id)
        return {"id": str(node_id), "status": "active"}

    @get(
        "/v1/nodes",
        tags=["monitor"],
        summary="Nodes by status, for the reaper",
        responses=problem_answers(400, *AS_MONITOR),
    )
    async def nodes(
        request: Request[Any, Any, Any], status: FromQuery[NodeStatus | None] = None
    ) -> NodeList:
        monitor(request)
        query = select(
            Node.id, Node.location, Node.status, Node.drain_reason, Node.public_ip, Node.instance_id
        )
        if status is not None:
            query = query.where(Node.status == status)
        async with database.reading(engine) as connection:
            rows = (await connection.execute(query.order_by(Node.created_at))).all()
        beats = await fleet.last_heartbeats(redis, [row.id for row in rows])
        return NodeList(
            nodes=[
                NodeSummary(
                    id=row.id,
                    location=row.location,
                    status=row.status,
                    drain_reason=row.drain_reason,
                    public_ip=str(row.public_ip) if row.public_ip else None,
                    active_peers=beats[row.id].active_peers if row.id in beats else None,
                    instance_id=row.instance_id,
                )
                for row in rows
            ]
        )

    @get(
        "/v1/nodes/{node_id:uuid}/peers",
        tags=["nodes"],
        summary="Peer changes, long-polled",
        responses=problem_answers(400, *AS_NODE),
    )
    async def peers(
        request: Request[Any, Any, Any],
        node_id: FromPath[uuid.UUID],
        since: FromQuery[Annotated[int, Parameter(ge=-1)]] = -1,
        wait: FromQuery[Annotated[float, Parameter(ge=0, le=MAX_WAIT_SECONDS)]] = MAX_WAIT_SECONDS,
    ) -> feed.PeerFeed:
        await fleet.authenticate(
            engine, node_id, request.headers.get("authorization"), node_records
        )
        return await feed.changes_since(engine, feed_redis, node_id, since, wait)

    @post(
        "/v1/nodes/{node_id:uuid}/terminated",
        status_code=200,
        tags=["monitor"],
        responses=problem_answers(*AS_MONITOR, UnknownNode),
    )
    async def terminated(
        request: Request[Any, Any, Any], node_id: FromPath[uuid.UUID]
    ) -> dict[str, str]:
        monitor(request)
        await fleet.terminate(engine, node_id)
        await retire_streams(redis, node_id)
        changed(node_id)
        return {"id": str(node_id), "status": "terminated"}

    @post(
        "/v1/admin/leases/sweep",
        status_code=200,
        tags=["monitor"],
        responses=problem_answers(*AS_MONITOR),
    )
    async def sweep(request: Request[Any, Any, Any]) -> dict[str, int]:
        monitor(request)
        async with engine.begin() as connection:
            changes = await leases.sweep_expired(connection, datetime.now(UTC))
        await feed.publish(redis, changes)
        return {"removed": len(changes)}

    return [heartbeat, locations, drain, undrain, nodes, peers, terminated, sweep]


async def _locations(engine: AsyncEngine, redis: Redis) -> Locations:
    async with database.reading(engine) as connection:
        rows = (
            await connection.execute(
                select(Node.id, Node.location, Node.capacity).where(Node.status == "active")
            )
        ).all()
    beats = await fleet.last_heartbeats(redis, [row.id for row in rows])
    by_location: dict[str, list[float]] = {}
    for row in rows:
        beat = beats.get(row.id)  # present only while fresh: the heartbeat key has a TTL
        if beat is not None and row.capacity > 0:
            by_location.setdefault(row.location, []).append(
                min(1.0, beat.active_peers / row.capacity)
            )
    return Locations(
        locations=[
            Location(
                location=code,
                country=code.split("-")[0].upper(),
                city=code.split("-", 1)[1],
                available=any(u < 1.0 for u in usage),
                load=_bucket(usage),
            )
            for code, usage in sorted(by_location.items())
        ]
    )


def _bucket(usage: list[float]) -> LoadBucket:
    if not usage or min(usage) >= 1.0:
        return "full"
    mean = sum(usage) / len(usage)
    return "low" if mean < 0.5 else "medium" if mean < 0.8 else "high"


def redemption_routes(redeemer: Redeemer) -> list[ControllerRouterHandler]:
    @get(
        "/v1/token-challenge",
        tags=["public"],
        summary="The TokenChallenge this origin accepts",
        responses={
            200: ResponseSpec(Challenges, description="The challenge, with the key"),
            **problem_answers(IssuerDirectoryUnavailable),
        },
    )
    async def token_challenge() -> Response[bytes]:
        key = redeemer.directory.preferred_key()
        body = Challenges(
            challenges=[
                ChallengeEntry(
                    token_type=redeemer.challenge.token_type,
                    challenge=b64url_encode(redeemer.challenge.encode()),
                    token_key=key.to_base64url() if key is not None else None,
                )
            ]
        )
        header = tokens.challenge_header(redeemer.challenge, redeemer.directory)
        return Response(
            msgspec.json.encode(body),
            media_type="application/json",
            headers={"WWW-Authenticate": header, "Cache-Control": "public, max-age=60"},
        )

    @post(
        "/v1/connect",
        status_code=200,
        tags=["public"],
        summary="Redeem a token for a config",
        operation_class=json_body(
            ConnectRequest,
            "Where, and the client's key (or a box key for a key made here)",
            also=("text/plain",),  # a wg-quick file, for Accept: text/plain
        ),
        responses={
            200: ResponseSpec(WireGuardConfig, description="The tunnel's config"),
            **problem_answers(
                *JSON_BODY_PROBLEMS,
                tokens.TokenRejected,
                spent.TokenSpent,
                redemption.UnknownLocation,
                redemption.InvalidClientKey,
                redemption.NoCapacity,
                spent.SpentStoreUnavailable,
                IssuerDirectoryUnavailable,
                *STORES_AWAY,
            ),
        },
    )
    async def connect(request: Request[Any, Any, Any]) -> ASGIApp:
        # The hot path of the role: the answer is sent as is (phoenix.common.answers).
        authorization = request.headers.get("authorization")
        body = await decode_json(request, ConnectRequest)
        config = await redeemer.connect(authorization, body)
        if "text/plain" in request.headers.get("accept", ""):
            return Answer(render_wg_quick(config).encode(), media_type=WG_QUICK)
        return Answer.json(config)

    return [token_challenge, connect]
