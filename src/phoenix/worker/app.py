"""The worker role: Dramatiq workers and the schedule in this process, plus a small HTTP app.

The HTTP app's lifespan owns the Dramatiq worker and the schedule, so `phoenix serve --role
worker` starts and stops them together and SIGTERM drains in-flight jobs before the process
exits. Every client and service is built here, from settings, and handed to the actors.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import redis
from litestar import Litestar, MediaType, Request, Response, Router, get
from litestar.di import Provide
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
from phoenix.worker.fleet_metrics import FleetMetrics
from phoenix.worker.issuer_keys import IssuerKeyWatch
from phoenix.worker.nodes import ConfigApi
from phoenix.worker.publish import LocalTarget, make_target
from phoenix.worker.reaper import AwsProvider, LocalProvider, Provider, Reaper
from phoenix.worker.reconcile import BillingReconcile
from phoenix.worker.retention import Retention, RetentionTarget
from phoenix.worker.schedule import Entry, Schedule
from phoenix.worker.settings import WorkerSettings, signing_key_seed

ROLE = "worker"
# Development only: where the worker serves its own small hosts file (devdata/hosts).
DEV_HOSTS_PATH = "/dev-hosts"

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
        {(job, args): name for name, _, job, args in entries},
    )
    for name, every, _, _ in entries:
        jobs.INTERVAL.labels(name).set(every)
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
    """The jobs this configuration enables, their schedules, and routes (development files)."""
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
    if settings.env == "dev":
        # A hosts file shipped with the project, so `make dev` publishes a blocklist offline.
        served = HostsFile.packaged()
        routes.append(
            Router(
                DEV_HOSTS_PATH,
                route_handlers=[dev_hosts],
                dependencies={"hosts_file": Provide(lambda: served, sync_to_thread=False)},
            )
        )
    api = ConfigApi(http, settings.config_url, settings.monitor_token)
    if settings.node_provider != "none":
        functions["reap"] = Reaper(api, _provider(settings), settings.node_max_age).run
        entries.append(("reaper", settings.reaper_interval_seconds, "reap", ()))
    if settings.fleet_metrics == "cloudwatch":
        functions["fleet_metrics"] = _fleet_metrics(api).run
        entries.append(
            ("fleet_metrics", settings.fleet_metrics_interval_seconds, "fleet_metrics", ())
        )
    if settings.canary_zones:
        resolver = make_resolver(settings.canary_resolver)
        functions["canary"] = Canary(api, resolver, settings.canary_zones).run
        entries.append(("canary", settings.canary_interval_seconds, "canary", ()))
    if settings.issuer_directory_url:
        watch = IssuerKeyWatch(
            http,
            settings.issuer_directory_url,
            settings.issuer_key_max_age,
            settings.issuer_key_warn_days,
        )
        functions["check_issuer_keys"] = watch.run
        entries.append(
            ("issuer_keys", settings.issuer_key_check_interval_seconds, "check_issuer_keys", ())
        )
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
    if settings.auth_url and settings.auth_admin_token:
        reconcile = BillingReconcile(http, settings.auth_url, settings.auth_admin_token)
        functions["billing_reconcile"] = reconcile.run
        entries.append(
            (
                "billing_reconcile",
                settings.billing_reconcile_interval_seconds,
                "billing_reconcile",
                (),
            )
        )
    functions["retention"] = retention.run
    for role in sorted(retention.targets):
        entries.append(
            (f"retention:{role}", settings.retention_interval_seconds, "retention", (role,))
        )
    return functions, entries, routes


@dataclass(frozen=True)
class HostsFile:
    """The development hosts file, with the validators a real list's server sends."""

    body: bytes
    etag: str
    modified: int  # Unix seconds (HTTP dates have no finer resolution)

    @classmethod
    def packaged(cls) -> HostsFile:
        resource = resources.files("phoenix.worker").joinpath("devdata", "hosts")
        with resources.as_file(resource) as path:
            body, modified = path.read_bytes(), int(path.stat().st_mtime)
        return cls(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', modified)

    def not_modified(self, if_none_match: str | None, if_modified_since: str | None) -> bool:
        # RFC 9110 §13.2.2: If-None-Match decides when present, If-Modified-Since only without.
        if if_none_match is not None:
            tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
            return self.etag in tags or "*" in tags
        if if_modified_since is None:
            return False
        try:
            return self.modified <= parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError):
            return False


@get("/hosts", include_in_schema=False, sync_to_thread=False)
def dev_hosts(request: Request[Any, Any, Any], hosts_file: HostsFile) -> Response[bytes]:
    """The development hosts file, answering a conditional GET with 304 as GitHub does."""
    headers = {
        "ETag": hosts_file.etag,
        "Last-Modified": formatdate(hosts_file.modified, usegmt=True),
        "Cache-Control": "no-cache",
    }
    if hosts_file.not_modified(
        request.headers.get("if-none-match"), request.headers.get("if-modified-since")
    ):
        return Response(b"", status_code=304, headers=headers)
    return Response(hosts_file.body, media_type=MediaType.TEXT, headers=headers)


def _fleet_metrics(api: ConfigApi) -> FleetMetrics:
    import boto3  # only a worker that publishes fleet metrics loads the AWS SDK for it

    return FleetMetrics(api, boto3.client("cloudwatch"))


def _provider(settings: WorkerSettings) -> Provider:
    if settings.node_provider == "aws":
        import boto3  # only a worker that reaps AWS nodes loads the AWS SDK

        return AwsProvider(
            boto3.client("autoscaling"), boto3.client("ec2"), settings.node_aws_groups
        )
    return LocalProvider(Path(settings.node_local_pid_dir))
