"""The config role's HTTP surface: locations and connects, a node's own routes, and the fleet
monitor's.

Thin handlers: decode strictly, call the service, encode. Who may call is the controller's guard
(the monitor's secret, phoenix.config.guards) or, for a node's routes, its own credential.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, Parameter
from litestar.types import ASGIApp

from phoenix.common.answers import Answer
from phoenix.common.bodies import JSON_BODY_PROBLEMS, decode_json
from phoenix.common.database import DatabaseUnavailable
from phoenix.common.headers import header
from phoenix.common.openapi import NOT_MODIFIED, json_body, problem_answers
from phoenix.common.web import SMALL_ANSWER
from phoenix.config import metrics, redemption, spent, tokens
from phoenix.config.credentials import BadCredential
from phoenix.config.directory import IssuerDirectoryUnavailable
from phoenix.config.feed import PeerFeed
from phoenix.config.fleet import CompromisedNode, UnknownNode
from phoenix.config.guards import monitor_only
from phoenix.config.redemption import Redeemer
from phoenix.config.redis_errors import RedisUnavailable
from phoenix.config.schemas import (
    ChallengeEntry,
    Challenges,
    ConnectRequest,
    DrainRequest,
    Heartbeat,
    HeartbeatAnswer,
    Locations,
    NodeList,
)
from phoenix.config.service import FleetControl, LocationBoard, NodeCalls
from phoenix.config.wgconfig import WireGuardConfig, render_wg_quick
from phoenix.crypto.privacypass.base64url import b64url_encode

LOCATIONS_MAX_AGE = 15
WG_QUICK = b"text/plain; charset=utf-8"  # a wg-quick file, for Accept: text/plain
MAX_WAIT_SECONDS = 25.0
# The route template of the long-poll, timed in its own series (phoenix.common.httpmetrics).
LONG_POLL_ROUTE = "/v1/nodes/{node_id}/peers"
NODE_CALLS = "node_calls"  # the app state's key of the node routes' NodeCalls
NodeStatus = Literal["pending", "active", "lost", "draining", "drained", "terminated"]  # else 400
# Every route below reads NodeDB or Redis; either away is a 503.
STORES_AWAY = (DatabaseUnavailable, RedisUnavailable)
# A node's own routes: its credential, its id (a path that is no UUID matches no route: 404 too).
AS_NODE = (BadCredential, UnknownNode, *STORES_AWAY)
AS_MONITOR = (BadCredential, *STORES_AWAY)


class NodeController(Controller):
    """A node's own routes. Each first authenticates the node of its path (the one credential
    check: phoenix.config.store); a guard would cost a heartbeat 10-75 µs of Litestar's
    machinery (measured), a quarter to half of what the whole heartbeat costs. Their NodeCalls
    comes from the app's state (the app factory puts it there as NODE_CALLS), not a dependency:
    resolving one costs every request about 4.5 µs (measured in process), 3 % of a heartbeat."""

    path = "/v1/nodes/{node_id:uuid}"
    tags = ["nodes"]

    @post(
        "/heartbeat",
        status_code=200,
        opt={SMALL_ANSWER: True},
        operation_class=json_body(Heartbeat, "The node's counters and applied revision"),
        responses={
            200: ResponseSpec(HeartbeatAnswer, description="Whether to drain; the revision"),
            **problem_answers(*AS_NODE, *JSON_BODY_PROBLEMS),
        },
    )
    async def heartbeat(
        self,
        request: Request[Any, Any, Any],
        node_id: FromPath[uuid.UUID],
    ) -> ASGIApp:
        # Every node, every few seconds: the answer is sent as is (phoenix.common.answers).
        node_calls: NodeCalls = request.app.state[NODE_CALLS]
        node = await node_calls.authenticate(node_id, header(request, b"authorization"))
        beat = await decode_json(request, Heartbeat)
        return Answer.json(await node_calls.heartbeat(node, beat))

    @get(
        "/peers",
        summary="Peer changes, long-polled",
        responses=problem_answers(400, *AS_NODE),
    )
    async def peers(
        self,
        request: Request[Any, Any, Any],
        node_id: FromPath[uuid.UUID],
        since: FromQuery[Annotated[int, Parameter(ge=-1)]] = -1,
        wait: FromQuery[Annotated[float, Parameter(ge=0, le=MAX_WAIT_SECONDS)]] = MAX_WAIT_SECONDS,
    ) -> PeerFeed:
        node_calls: NodeCalls = request.app.state[NODE_CALLS]
        # Fresh: the one NodeDB read of a poll proves the credential and gives the revision.
        authorization = header(request, b"authorization")
        node = await node_calls.authenticate(node_id, authorization, fresh=True)
        with metrics.LONG_POLLS_WAITING.track_inprogress():
            return await node_calls.peer_changes(node, since, wait)


class MonitorController(Controller):
    """The fleet monitor's (and the reaper's) view of the fleet, and its changes to it."""

    path = "/"
    tags = ["monitor"]
    guards = [monitor_only]

    @post(
        "/node/drain",
        status_code=200,
        summary="Start draining a node",
        operation_class=json_body(DrainRequest, "Which node, and why"),
        responses=problem_answers(*AS_MONITOR, *JSON_BODY_PROBLEMS, UnknownNode),
    )
    async def drain(
        self, request: Request[Any, Any, Any], fleet_control: NamedDependency[FleetControl]
    ) -> dict[str, str]:
        body = await decode_json(request, DrainRequest)
        await fleet_control.drain(body.id, body.reason)
        return {"id": str(body.id), "status": "draining"}

    @post(
        "/v1/nodes/{node_id:uuid}/undrain",
        status_code=200,
        responses=problem_answers(*AS_MONITOR, UnknownNode, CompromisedNode),
    )
    async def undrain(
        self, node_id: FromPath[uuid.UUID], fleet_control: NamedDependency[FleetControl]
    ) -> dict[str, str]:
        await fleet_control.undrain(node_id)
        return {"id": str(node_id), "status": "active"}

    @get(
        "/v1/nodes",
        summary="Nodes by status, for the reaper",
        responses=problem_answers(400, *AS_MONITOR),
    )
    async def nodes(
        self,
        fleet_control: NamedDependency[FleetControl],
        status: FromQuery[NodeStatus | None] = None,
    ) -> NodeList:
        return await fleet_control.nodes(status)

    @post(
        "/v1/nodes/{node_id:uuid}/terminated",
        status_code=200,
        responses=problem_answers(*AS_MONITOR, UnknownNode),
    )
    async def terminated(
        self, node_id: FromPath[uuid.UUID], fleet_control: NamedDependency[FleetControl]
    ) -> dict[str, str]:
        await fleet_control.terminate(node_id)
        return {"id": str(node_id), "status": "terminated"}

    @post(
        "/v1/admin/leases/sweep",
        status_code=200,
        responses=problem_answers(*AS_MONITOR),
    )
    async def sweep(self, fleet_control: NamedDependency[FleetControl]) -> dict[str, int]:
        return {"removed": await fleet_control.sweep_leases()}


class PublicController(Controller):
    """What anyone may ask: where to connect, the token challenge, and a config for a token."""

    path = "/v1"
    tags = ["public"]

    @get(
        "/locations",
        summary="Where one can connect, and how busy it is",
        # The body is sent pre-encoded (bytes): without this the document would say "string".
        responses={
            200: ResponseSpec(Locations, description="Locations and their load"),
            304: NOT_MODIFIED,
            **problem_answers(*STORES_AWAY),
        },
    )
    async def locations(
        self, request: Request[Any, Any, Any], board: NamedDependency[LocationBoard]
    ) -> Response[bytes]:
        body = msgspec.json.encode(await board.locations())
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": f"public, max-age={LOCATIONS_MAX_AGE}"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(b"", status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    @get(
        "/token-challenge",
        summary="The TokenChallenge this origin accepts",
        responses={
            200: ResponseSpec(Challenges, description="The challenge, with the key"),
            **problem_answers(IssuerDirectoryUnavailable),
        },
    )
    async def token_challenge(self, redeemer: NamedDependency[Redeemer]) -> Response[bytes]:
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
        "/connect",
        status_code=200,
        opt={SMALL_ANSWER: True},
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
    async def connect(
        self, request: Request[Any, Any, Any], redeemer: NamedDependency[Redeemer]
    ) -> ASGIApp:
        # The hot path of the role: the answer is sent as is (phoenix.common.answers).
        with metrics.counting_redemption():
            authorization = header(request, b"authorization")
            body = await decode_json(request, ConnectRequest)
            config = await redeemer.connect(authorization, body)
        if "text/plain" in (header(request, b"accept") or ""):
            return Answer(render_wg_quick(config).encode(), media_type=WG_QUICK)
        return Answer.json(config)
