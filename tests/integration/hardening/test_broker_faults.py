"""Faults with a RabbitMQ node of the test's own: the broker down when a job is enqueued.

The worker role runs as ``phoenix serve --role worker`` on Dramatiq over a private RabbitMQ
node (``tests/harness/rabbitmq.py``); its one enqueue path is the schedule. The node is stopped
just before a firing of the blocklist schedule and started again after it. The promise: the
job of that firing is not lost — it runs once the broker is back, in the same period, not a
whole period later — and it runs once.

Shown failing on the code as it was (a real bug, fixed in ``phoenix.worker.schedule``): the
send failed, the slot's lock was already taken, so no process sent that slot again and the job
waited for the next period (``the slot ...'s job did not run before the next firing``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.harness.hosts_server import HostsServer, Served, hosts_file
from tests.harness.processes import RoleServer
from tests.harness.rabbitmq import PrivateRabbitMQ
from tests.integration.worker.conftest import hosts_server, namespace, signing_seed
from tests.integration.worker.test_jobs import NAMES, blocklist_env

__all__ = ["hosts_server", "namespace", "signing_seed"]

pytestmark = pytest.mark.slow

PERIOD = 20  # seconds between the blocklist schedule's firings


@pytest.fixture
def rabbitmq() -> Iterator[PrivateRabbitMQ]:
    require("rabbitmq-server", PrivateRabbitMQ.available(), "Debian package rabbitmq-server")
    node = PrivateRabbitMQ().start()
    yield node
    node.stop()
    node.remove()


def fired_slots(worker: RoleServer) -> list[int]:
    """The slots the worker's log says it sent."""
    slots = []
    for line in worker.logs().splitlines():
        if '"schedule_fired"' in line:
            record = json.loads(line)
            if record.get("schedule") == "blocklist:base":
                slots.append(int(record["slot"]))
    return slots


@pytest.fixture
def worker(
    rabbitmq: PrivateRabbitMQ,
    hosts_server: HostsServer,
    tmp_path: Path,
    signing_seed: str,
    redis_url: str,
    namespace: str,
) -> Iterator[RoleServer]:
    """The worker role on the private node; its schedule locks in the machine's Redis."""
    hosts_server.files["/hosts"] = Served(hosts_file(NAMES))
    on_rabbitmq = {
        "PHOENIX_BROKER": "rabbitmq",
        "PHOENIX_BROKER_URL": rabbitmq.url,
        "PHOENIX_BROKER_NAMESPACE": namespace,
        "PHOENIX_REDIS_URL": redis_url,
        "PHOENIX_WORKER_QUEUE": f"{namespace}-jobs",
        "PHOENIX_BLOCKLIST_INTERVAL_SECONDS": str(PERIOD),
        "PHOENIX_ENV": "test",
    }
    env = {**blocklist_env(hosts_server, tmp_path, signing_seed), **on_rabbitmq}
    server = RoleServer("worker", env, tmp_path / "worker.log").start()
    yield server
    assert server.stop() == 0


def test_a_job_enqueued_while_the_broker_is_down_runs_once_it_is_back(
    rabbitmq: PrivateRabbitMQ, hosts_server: HostsServer, worker: RoleServer
) -> None:
    # The firing the broker misses: the next one at least 4 s away (a nearer one runs first,
    # with the broker up, and is left out of the count).
    firing = math.ceil((time.time() + 4) / PERIOD) * PERIOD
    time.sleep(max(0.0, firing - PERIOD + 2.0 - time.time()))
    ran, fired = len(hosts_server.requests), len(fired_slots(worker))
    slot = firing // PERIOD
    rabbitmq.stop()
    assert time.time() < firing - 0.5, "stopping the broker took too long"
    time.sleep(max(0.0, firing + 1.0 - time.time()))
    assert len(hosts_server.requests) == ran, "the job ran without a broker"
    rabbitmq.start()
    while len(hosts_server.requests) == ran and time.time() < firing + PERIOD - 0.5:
        time.sleep(0.1)
    assert len(hosts_server.requests) > ran, (
        f"the slot {slot}'s job did not run before the next firing: {worker.logs()[-3000:]}"
    )
    # Once: no resend after the one that got through (resends are at most PERIOD/10 apart).
    time.sleep(min(3.0, max(0.0, firing + PERIOD - 0.5 - time.time())))
    assert fired_slots(worker)[fired:] == [slot]
    assert len(hosts_server.requests) == ran + 1
