"""The worker role: Dramatiq workers in this process, plus a small health/metrics HTTP app.

The HTTP app's lifespan owns the Dramatiq worker, so `phoenix serve --role worker` starts and
stops both together and SIGTERM drains in-flight jobs before the process exits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import dramatiq
from litestar import Litestar

from phoenix.common.health import ReadinessCheck
from phoenix.common.logging import get_logger
from phoenix.common.web import build_app
from phoenix.worker import broker as broker_module
from phoenix.worker.settings import WorkerSettings

ROLE = "worker"

_log = get_logger("phoenix.worker")


def create_app(settings: WorkerSettings, broker: dramatiq.Broker | None = None) -> Litestar:
    the_broker = broker or broker_module.make_broker(settings)

    @asynccontextmanager
    async def run_workers(_: Litestar) -> AsyncIterator[None]:
        worker = dramatiq.Worker(the_broker, worker_threads=settings.worker_threads)
        worker.start()
        _log.info("workers_started", queues=sorted(the_broker.get_declared_queues()))
        try:
            yield
        finally:
            # Waits for running jobs; unstarted messages go back to the broker.
            await asyncio.to_thread(worker.stop, 30_000)
            the_broker.close()
            _log.info("workers_stopped")

    return build_app(
        role=ROLE,
        settings=settings,
        checks=[ReadinessCheck("broker", partial(broker_module.ping, settings))],
        lifespan=[run_workers],
        state={"broker": the_broker},
    )
