"""The config role's app factory: its engine, its Redis client, its checks, its routes."""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

from litestar import Litestar, Router
from litestar.di import Provide
from redis.asyncio import BlockingConnectionPool, Redis

from phoenix.common import background, database
from phoenix.common.health import ReadinessCheck
from phoenix.common.logging import get_logger
from phoenix.common.web import build_app
from phoenix.config import fleet, redis_errors, tokens
from phoenix.config.api import (
    LONG_POLL_ROUTE,
    NODE_CALLS,
    MonitorController,
    NodeController,
    PublicController,
)
from phoenix.config.census import Census
from phoenix.config.directory import IssuerDirectoryClient
from phoenix.config.durability import NotDurable, check_durable
from phoenix.config.hotpath.coalesce import Coalescer
from phoenix.config.hotpath.notifier import FeedNotifier
from phoenix.config.nodes.addresses import parse_networks
from phoenix.config.nodes.api import EnrollmentController, OperatorController, SweepController
from phoenix.config.nodes.attestation import AttestationVerifier, load_certificates
from phoenix.config.nodes.service import Policy, Registrar
from phoenix.config.nodes.sweeper import FleetSweeper
from phoenix.config.redemption import Redeemer
from phoenix.config.service import FleetControl, LocationBoard, NodeCalls
from phoenix.config.settings import ConfigSettings
from phoenix.config.spent import SpentTokens
from phoenix.config.store import FleetStore
from phoenix.settings import SettingsError

ROLE = "config"
REDIS_CONNECTIONS = 6  # plus the notifier's one: at most 7 per process (issue: at most 8)
NOTIFIER_HEALTH_SECONDS = 5  # a silent subscription is pinged this often, so a dead one shows

_log = get_logger("phoenix.config")


def create_app(settings: ConfigSettings) -> Litestar:
    engine = database.create_engine(settings.nodedb_url, pool_size=settings.nodedb_pool_size)
    # Connections to Redis are bounded per process whatever the fleet's size: REDIS_CONNECTIONS
    # for every command (a caller past them waits for one), one more for the notifier's
    # subscription. Waiting long-polls hold none (phoenix.config.hotpath.notifier).
    redis = Redis(
        connection_pool=BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=REDIS_CONNECTIONS,
            timeout=settings.readiness_timeout,
            socket_connect_timeout=settings.readiness_timeout,
            socket_timeout=settings.readiness_timeout,
            health_check_interval=30,
        )
    )

    # Heartbeats, spent-token marks and peer-feed appends of concurrent requests share round
    # trips to Redis (phoenix.config.hotpath.coalesce).
    writes = Coalescer(redis)
    notifier_redis = Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.readiness_timeout,
        socket_timeout=settings.readiness_timeout,
        health_check_interval=NOTIFIER_HEALTH_SECONDS,
    )
    notifier = FeedNotifier(notifier_redis)
    store = FleetStore(
        engine,
        redis,
        writes=writes,
        notifier=notifier,
        heartbeat_ttl=settings.heartbeat_ttl_seconds,
        cache_seconds=settings.nodedb_cache_seconds,
    )
    directory = IssuerDirectoryClient.from_settings(settings)
    redeemer = Redeemer(
        store=store,
        directory=directory,
        spent=SpentTokens(
            redis,
            commands=writes,
            replicas=settings.redis_replicas,
            replica_wait_ms=settings.redis_replica_wait_ms,
        ),
        challenge=tokens.challenge(settings),
        lease=timedelta(hours=settings.lease_hours),
        dns=tuple(settings.tunnel_dns),
        dns_variants=settings.dns_resolvers,
        rng=random.Random(),  # noqa: S311 - which node a client gets is not a secret
    )

    pools = fleet.Pools(
        ipaddress.IPv4Network(settings.tunnel_ipv4_supernet),
        settings.tunnel_ipv4_pool_prefix,
        ipaddress.IPv6Network(settings.tunnel_ipv6_supernet),
        settings.tunnel_ipv6_pool_prefix,
    )
    try:
        aws_keys = load_certificates(settings.node_aws_certificates)
    except ValueError as error:
        raise SettingsError(
            "PHOENIX_NODE_AWS_CERTIFICATES", str(error).split(": ", 1)[-1]
        ) from None
    registrar = Registrar(
        engine,
        redis,
        pools,
        AttestationVerifier(
            aws_keys,
            settings.node_aws_accounts,
            settings.location_regions,
            timedelta(seconds=settings.node_attestation_max_age_seconds),
        ),
        Policy(
            dev_networks=parse_networks(settings.node_dev_networks),
            per_hour=settings.node_registrations_per_hour,
            approval=settings.node_approval,
        ),
        on_change=store.forget,
        resolvers=settings.dns_resolvers,
    )
    sweeper = FleetSweeper(
        engine,
        redis,
        settings.heartbeat_ttl_seconds,
        lost_after=timedelta(seconds=settings.node_lost_after),
        forget_after=timedelta(seconds=settings.node_forget_after),
        on_change=store.forget,
    )
    census = Census(engine, redis)
    services = {
        "board": LocationBoard(store),
        "fleet_control": FleetControl(store),
        "redeemer": redeemer,
        "registrar": registrar,
        "sweeper": sweeper,
    }
    routes = Router(
        path="/",
        route_handlers=[
            NodeController,
            MonitorController,
            PublicController,
            EnrollmentController,
            OperatorController,
            SweepController,
        ],
        dependencies={name: _provide(service) for name, service in services.items()},
    )

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await directory.start()
        await notifier.start()
        sweeping = asyncio.create_task(
            sweeper.run_forever(settings.fleet_sweep_seconds), name="fleet-sweep"
        )
        counting = asyncio.create_task(
            census.run_forever(settings.fleet_sweep_seconds), name="fleet-census"
        )
        try:
            yield
        finally:
            await background.stop(sweeping, counting)
            await directory.stop()
            await notifier.stop()
            await writes.close()
            await store.close()
            await redis.aclose()
            await notifier_redis.aclose()
            await engine.dispose()

    async def redis_ready() -> None:
        await redis.ping()
        if settings.durable_redis_required:
            try:
                await check_durable(redis)
            except NotDurable as problem:
                _log.warning("spent_store_not_durable", reason=str(problem))
                raise

    return build_app(
        role=ROLE,
        settings=settings,
        route_handlers=[routes],
        checks=[
            ReadinessCheck("postgres", partial(database.ping, engine)),
            ReadinessCheck("redis", redis_ready),
            ReadinessCheck("issuer-directory", directory.probe),
        ],
        lifespan=[lifespan],
        long_polls=[LONG_POLL_ROUTE],
        extra_exception_handlers={
            **database.exception_handlers(),
            **redis_errors.exception_handlers(),
        },
        state={
            "nodedb": engine,
            "redis": redis,
            "operator_token": settings.operator_token,
            "monitor_token": settings.monitor_token,
            NODE_CALLS: NodeCalls(store),
        },
    )


def _provide(service: object) -> Provide:
    """A service built once here, handed to every handler that names it."""
    return Provide(lambda: service, sync_to_thread=False, use_cache=True)
