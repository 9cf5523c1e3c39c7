"""The config role's app factory: its engine, its Redis client, its checks, its routes."""

from __future__ import annotations

import ipaddress
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

from litestar import Litestar
from redis.asyncio import Redis

from phoenix.common import database
from phoenix.common.health import ReadinessCheck
from phoenix.common.web import build_app
from phoenix.config import fleet, redis_errors, tokens
from phoenix.config.api import fleet_routes, redemption_routes
from phoenix.config.coalesce import Coalescer
from phoenix.config.directory import IssuerDirectoryClient
from phoenix.config.placement import Placements
from phoenix.config.recent import Recent
from phoenix.config.redemption import Redeemer
from phoenix.config.selection import NodeLoad
from phoenix.config.settings import ConfigSettings
from phoenix.config.spent import SpentTokens

ROLE = "config"


def create_app(settings: ConfigSettings) -> Litestar:
    engine = database.create_engine(settings.nodedb_url, pool_size=settings.nodedb_pool_size)
    redis = Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.readiness_timeout,
        socket_timeout=settings.readiness_timeout,
        health_check_interval=30,
    )

    # Heartbeats, spent-token marks and peer-feed appends of concurrent requests share round
    # trips to Redis (phoenix.config.coalesce).
    writes = Coalescer(redis)
    # New leases of concurrent connects share statements, on a NodeDB connection of their own
    # from the pool (phoenix.config.placement).
    placements = Placements(engine)
    directory = IssuerDirectoryClient.from_settings(settings)
    node_records: Recent[uuid.UUID, fleet.NodeRecord] = Recent(settings.nodedb_cache_seconds)
    location_loads: Recent[str, list[NodeLoad]] = Recent(settings.nodedb_cache_seconds)
    redeemer = Redeemer(
        engine=engine,
        redis=redis,
        directory=directory,
        spent=SpentTokens(redis, settings.token_validity_seconds, commands=writes),
        challenge=tokens.challenge(settings),
        lease=timedelta(hours=settings.lease_hours),
        dns=tuple(settings.tunnel_dns),
        rng=random.Random(),  # noqa: S311 - which node a client gets is not a secret
        location_loads=location_loads,
        feed_writes=writes,
        placements=placements,
    )

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await directory.start()
        try:
            yield
        finally:
            await directory.stop()
            await writes.close()
            await placements.close()
            await redis.aclose()
            await feed_redis.aclose()
            await engine.dispose()

    pools = fleet.Pools(
        ipaddress.IPv4Network(settings.tunnel_ipv4_supernet),
        settings.tunnel_ipv4_pool_prefix,
        ipaddress.IPv6Network(settings.tunnel_ipv6_supernet),
        settings.tunnel_ipv6_pool_prefix,
    )
    # Long-polls block a connection for up to 25 s: their own client, with no socket timeout.
    feed_redis = Redis.from_url(
        settings.redis_url, socket_connect_timeout=settings.readiness_timeout
    )
    routes = fleet_routes(
        engine,
        redis,
        writes,
        pools,
        settings.node_tokens,
        settings.monitor_token,
        settings.heartbeat_ttl_seconds,
        feed_redis,
        node_records,
        location_loads,
    )
    return build_app(
        role=ROLE,
        settings=settings,
        route_handlers=[*routes, *redemption_routes(redeemer)],
        checks=[
            ReadinessCheck("postgres", partial(database.ping, engine)),
            ReadinessCheck("redis", redis.ping),
            ReadinessCheck("issuer-directory", directory.probe),
        ],
        lifespan=[lifespan],
        extra_exception_handlers={
            **database.exception_handlers(),
            **redis_errors.exception_handlers(),
        },
        state={"nodedb": engine, "redis": redis},
    )
