"""The analytics role's app factory: its store, its writer, its limits, its routes."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from phoenix.analytics.api import exception_handlers, routes
from phoenix.analytics.service import Reports, TokenBucket
from phoenix.analytics.settings import AnalyticsSettings
from phoenix.analytics.store import Store, open_store
from phoenix.analytics.writer import Writer
from phoenix.common.health import ReadinessCheck
from phoenix.common.web import build_app

ROLE = "analytics"
# Shorter than the server's worker kill timeout (35 s), so the final flush is never cut off.
SHUTDOWN_FLUSH_SECONDS = 25.0
# Ingest makes and drops thousands of small objects a second (a batch is 100 events), so the
# collector's youngest generation ran about 120 times a second at the default 700; at this
# threshold the role used about 15% less CPU per row landed (bench analytics, CPU per row).
GC_YOUNGEST_THRESHOLD = 20_000


def create_app(settings: AnalyticsSettings, store: Store | None = None) -> Litestar:
    """``store``: tests hand in their own; otherwise the configured server, else chDB.

    Stores connect on first use, so building the app (for OpenAPI or a boundary report)
    touches no database and takes no lock on chDB's directory.
    """
    owned = store is None
    store = store or open_store(
        settings.clickhouse_url, settings.chdb_path, settings.readiness_timeout
    )
    writer = Writer(
        store,
        flush_rows=settings.flush_rows,
        flush_seconds=settings.flush_seconds,
        max_rows=settings.buffer_max_rows,
    )

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        before = gc.get_threshold()
        gc.set_threshold(GC_YOUNGEST_THRESHOLD, *before[1:])  # the process is this role's
        writer.start()
        try:
            yield
        finally:
            gc.set_threshold(*before)
            # SIGTERM lands here (the server runs the lifespan's shutdown): write what is held.
            await writer.close(SHUTDOWN_FLUSH_SECONDS)
            if owned:
                store.close()

    async def ping() -> None:
        await asyncio.to_thread(store.select, "SELECT 1")

    return build_app(
        role=ROLE,
        settings=settings,
        route_handlers=routes(
            store=store,
            writer=writer,
            limiter=TokenBucket(settings.ingest_events_per_second, settings.ingest_burst_events),
            reports=Reports(store, settings.report_min_events),
            operator_token=settings.operator_token,
            coarsening=settings.coarsening,
            retention_months=settings.retention_months,
        ),
        checks=[ReadinessCheck("clickhouse", ping)],
        lifespan=[lifespan],
        extra_exception_handlers=exception_handlers(),
        state={"analytics_store": store, "analytics_writer": writer},
    )
