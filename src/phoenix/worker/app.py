"""The worker role: Dramatiq workers and the schedule in this process, plus a small HTTP app.

The HTTP app's lifespan owns the Dramatiq worker and the schedule, so `phoenix serve --role
worker` starts and stops them together and SIGTERM drains in-flight jobs before the process
exits. Every client and service is built here, from settings, and handed to the actors.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import redis
from litestar import Litestar
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler
from nacl.signing import SigningKey

from phoenix.common.health import ReadinessCheck
from phoenix.common.logging import get_logger
from phoenix.common.web import build_app
from phoenix.worker import broker as broker_module
from phoenix.worker import jobs
from phoenix.worker.blocklist import Compiler
from phoenix.worker.canary import Canary, make_resolver
from phoenix.worker.nodes import ConfigApi
from phoenix.worker.publish import LocalTarget, make_target
from phoenix.worker.reaper import AwsProvider, LocalProvider, Provider, Reaper
from phoenix.worker.retention import Retention, RetentionTarget
from phoenix.worker.schedule import Entry, Schedule
from phoenix.worker.settings import WorkerSettings, signing_key_seed

ROLE = "worker"

_log = get_logger("phoenix.worker")


def create_app(settings: WorkerSettings, broker: dramatiq.Broker | None = None) -> Litestar:
    the_broker = broker or broker_module.make_broker(settings)
    store = redis.Redis.from_url(settings.redis_url, socket_timeout=10)
    http = httpx.Client(timeout=settings.blocklist_fetch_timeout, follow_redirects=True)
    functions, entries, routes = _services(settings, store, http)
    actors = jobs.declare(
        the_broker,
        settings.worker_queue,
        jobs.Retrying(
            max_retries=settings.job_max_retries,
            min_backoff_ms=int(settings.job_min_backoff_seconds * 1000),
            max_backoff_ms=int(settings.job_max_backoff_seconds * 1000),
        ),
        functions,
    )
    schedule = Schedule(
        store,
        settings.broker_namespace,
        [
            Entry(name, every, partial(actors[job].send, *args))
            for name, every, job, args in entries
        ],
    )

    @asynccontextmanager
    async def run_workers(_: Litestar) -> AsyncIterator[None]:
        worker = dramatiq.Worker(the_broker, worker_threads=settings.worker_threads)
        worker.start()
        if settings.worker_schedule:
            schedule.start()
        _log.info("workers_started", queues=sorted(the_broker.get_declared_queues()))
        try:
            yield
        finally:
            schedule.stop()
            # Waits for running jobs; unstarted messages go back to the broker.
            await asyncio.to_thread(worker.stop, 30_000)
            await asyncio.to_thread(_close, the_broker, http, store)
            _log.info("workers_stopped")

    return build_app(
        role=ROLE,
        settings=settings,
        route_handlers=routes,
        checks=[ReadinessCheck("broker", partial(broker_module.ping, settings))],
        lifespan=[run_workers],
        state={"broker": the_broker, "actors": actors, "schedule": schedule},
    )


def _close(broker: dramatiq.Broker, http: httpx.Client, store: redis.Redis) -> None:
    broker.close()
    http.close()
    store.close()


ScheduleRow = tuple[str, int, str, tuple[Any, ...]]  # schedule name, period, actor, its args


def _services(
    settings: WorkerSettings, store: redis.Redis, http: httpx.Client
) -> tuple[dict[str, Callable[..., object]], list[ScheduleRow], list[ControllerRouterHandler]]:
    """The jobs this configuration enables, their schedules, and routes (the dev filter files)."""
    functions: dict[str, Callable[..., object]] = {}
    entries: list[ScheduleRow] = []
    routes: list[ControllerRouterHandler] = []
    if settings.blocklist_target:
        target = make_target(settings.blocklist_target)
        key = SigningKey(signing_key_seed(settings.blocklist_signing_key))
        compiler = Compiler(
            http=http,
            redis=store,
            target=target,
            signing_key=key,
            base_url=settings.blocklist_base_url,
            namespace=settings.broker_namespace,
            false_positive_rate=settings.blocklist_false_positive_rate,
            max_shrink=settings.blocklist_max_shrink,
            max_growth=settings.blocklist_max_growth,
            max_bytes=settings.blocklist_max_bytes,
        )
        functions["compile_blocklist"] = compiler.compile
        for variant in settings.blocklist_variants:
            entries.append(
                (
                    f"blocklist:{variant}",
                    settings.blocklist_interval_seconds,
                    "compile_blocklist",
                    (variant,),
                )
            )
        _log.info(
            "blocklist_enabled",
            variants=settings.blocklist_variants,
            verify_key=base64.b64encode(key.verify_key.encode()).decode(),
        )
        if isinstance(target, LocalTarget):
            # Development: the published files at a URL, as the CDN would serve them.
            target.root.mkdir(parents=True, exist_ok=True)
            routes.append(
                create_static_files_router(path="/blocklist", directories=[Path(target.root)])
            )
    api = ConfigApi(http, settings.config_url, settings.monitor_token)
    if settings.node_provider != "none":
        functions["reap"] = Reaper(api, _provider(settings), settings.node_max_age).run
        entries.append(("reaper", settings.reaper_interval_seconds, "reap", ()))
    if settings.canary_zones:
        resolver = make_resolver(settings.canary_resolver)
        functions["canary"] = Canary(api, resolver, settings.canary_zones).run
        entries.append(("canary", settings.canary_interval_seconds, "canary", ()))
    retention = Retention(
        http,
        [
            RetentionTarget(
                "config",
                settings.config_url if settings.monitor_token else "",
                settings.monitor_token,
            ),
            RetentionTarget("analytics", settings.analytics_url, settings.operator_token),
            RetentionTarget("auth", settings.auth_url, settings.auth_admin_token),
        ],
    )
    functions["retention"] = retention.run
    for role in sorted(retention.targets):
        entries.append(
            (f"retention:{role}", settings.retention_interval_seconds, "retention", (role,))
        )
    return functions, entries, routes


def _provider(settings: WorkerSettings) -> Provider:
    if settings.node_provider == "aws":
        import boto3  # only a worker that reaps AWS nodes loads the AWS SDK

        return AwsProvider(
            boto3.client("autoscaling"), boto3.client("ec2"), settings.node_aws_groups
        )
    return LocalProvider(Path(settings.node_local_pid_dir))
