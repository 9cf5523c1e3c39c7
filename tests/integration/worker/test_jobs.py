"""The worker's actors on real brokers: idempotent reruns, retries into a visible dead-letter place,
and one firing per schedule period across two `phoenix serve --role worker` processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
import redis
from litestar.testing import TestClient

from phoenix.dev.probes import free_port
from phoenix.settings import load
from phoenix.worker import jobs
from phoenix.worker.app import create_app
from phoenix.worker.schedule import Entry, Schedule, slot_of
from phoenix.worker.settings import WorkerSettings
from tests.harness.hosts_server import HostsServer, Served, hosts_file
from tests.harness.processes import RoleServer

NAMES = [f"t{i}.ads.example.com" for i in range(500)]


def wait_until(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_env(
    request: pytest.FixtureRequest, redis_url: str, rabbitmq_url: str, namespace: str
) -> Iterator[dict[str, str]]:
    kind = request.param
    queue = f"{namespace}-jobs"
    yield {
        "PHOENIX_BROKER": kind,
        "PHOENIX_BROKER_URL": redis_url if kind == "redis" else rabbitmq_url,
        "PHOENIX_BROKER_NAMESPACE": namespace,
        "PHOENIX_REDIS_URL": redis_url,
        "PHOENIX_WORKER_QUEUE": queue,
    }
    if kind == "rabbitmq":
        connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
        channel = connection.channel()
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            channel.queue_delete(name)
        connection.close()


def worker_settings(env: dict[str, str], **extra: str) -> WorkerSettings:
    return load(
        WorkerSettings, {"PHOENIX_ENV": "test", "PHOENIX_WORKER_THREADS": "2", **env, **extra}
    )


def blocklist_env(hosts_server: HostsServer, tmp_path: Path, seed: str) -> dict[str, str]:
    return {
        "PHOENIX_BLOCKLIST_BASE_URL": hosts_server.url,
        "PHOENIX_BLOCKLIST_TARGET": f"file://{tmp_path / 'published'}",
        "PHOENIX_BLOCKLIST_SIGNING_KEY": seed,
    }


def test_the_blocklist_actor_can_run_twice_and_the_second_run_does_nothing(
    broker_env: dict[str, str], hosts_server: HostsServer, tmp_path: Path, signing_seed: str
) -> None:
    hosts_server.files["/hosts"] = Served(hosts_file(NAMES))
    settings = worker_settings(
        broker_env,
        **blocklist_env(hosts_server, tmp_path, signing_seed),
        PHOENIX_WORKER_SCHEDULE="false",
    )
    app = create_app(settings)
    with TestClient(app) as client:
        actor = app.state.actors["compile_blocklist"]
        actor.send("base")
        wait_until(lambda: len(hosts_server.requests) == 1)
        manifest = tmp_path / "published" / "base" / "manifest.json"
        wait_until(manifest.exists)
        first = manifest.read_bytes()
        actor.send("base")
        wait_until(lambda: len(hosts_server.requests) == 2)
        # The development server publishes the files as the CDN would.
        served = client.get("/blocklist/base/manifest.json")
        assert served.status_code == 200
        assert served.content == first
    assert hosts_server.requests[1].status == 304
    assert manifest.read_bytes() == first


def dead_letters(settings: WorkerSettings) -> int:
    queue = settings.worker_queue
    if settings.broker == "redis":
        client = redis.Redis.from_url(settings.redis_url)
        count = client.zcard(f"{settings.broker_namespace}:{queue}.XQ")
        client.close()
        return int(count)
    connection = pika.BlockingConnection(pika.URLParameters(settings.resolved_broker_url))
    try:
        declared = connection.channel().queue_declare(f"{queue}.XQ", passive=True)
        return int(declared.method.message_count)
    finally:
        connection.close()


def test_a_job_that_keeps_failing_is_retried_then_lands_in_the_dead_letter_queue(
    broker_env: dict[str, str], tmp_path: Path, signing_seed: str
) -> None:
    env = {
        "PHOENIX_BLOCKLIST_BASE_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens
        "PHOENIX_BLOCKLIST_TARGET": f"file://{tmp_path / 'published'}",
        "PHOENIX_BLOCKLIST_SIGNING_KEY": signing_seed,
        "PHOENIX_WORKER_SCHEDULE": "false",
        "PHOENIX_JOB_MAX_RETRIES": "2",
        "PHOENIX_JOB_MIN_BACKOFF_SECONDS": "0.05",
        "PHOENIX_JOB_MAX_BACKOFF_SECONDS": "0.2",
    }
    settings = worker_settings(broker_env, **env)
    app = create_app(settings)
    counter = jobs.DEAD_LETTERS.labels(actor=f"{settings.worker_queue}.compile_blocklist")
    before = counter._value.get()
    with TestClient(app):
        app.state.actors["compile_blocklist"].send("base")
        wait_until(lambda: counter._value.get() == before + 1)
        wait_until(lambda: dead_letters(settings) == 1)
    assert not (tmp_path / "published" / "base").exists()


def test_one_schedule_slot_is_taken_once_however_often_it_fires(
    redis_url: str, namespace: str
) -> None:
    sent: list[int] = []
    client = redis.Redis.from_url(redis_url)
    entry = Entry("probe", 60, lambda: sent.append(1))
    first, second = Schedule(client, namespace, [entry]), Schedule(client, namespace, [entry])
    now = 1_800_000_000.0
    assert first.fire(entry, now)
    assert not second.fire(entry, now + 10)  # another process, same period
    assert not first.fire(entry, now)  # the same process again
    assert second.fire(entry, now + 60)  # the next period
    assert sent == [1, 1]
    client.close()


def test_slots_tolerate_clock_skew_of_under_half_a_period() -> None:
    fires_at = 960.0  # the firing instants are multiples of the period
    assert slot_of(fires_at, 60) == slot_of(fires_at + 25, 60) == slot_of(fires_at - 25, 60)
    assert slot_of(fires_at + 60, 60) == slot_of(fires_at, 60) + 1


def test_without_redis_the_schedule_sends_nothing(spare_redis: Any) -> None:
    sent: list[int] = []
    client = redis.Redis.from_url(spare_redis.url, socket_timeout=1)
    spare_redis.stop()
    entry = Entry("probe", 60, lambda: sent.append(1))
    assert not Schedule(client, "x", [entry]).fire(entry)
    assert sent == []


@pytest.mark.slow
def test_two_worker_processes_fire_each_schedule_once_per_period(
    broker_env: dict[str, str],
    hosts_server: HostsServer,
    tmp_path: Path,
    signing_seed: str,
    redis_url: str,
    namespace: str,
) -> None:
    hosts_server.files["/hosts"] = Served(hosts_file(NAMES))
    env = {
        **broker_env,
        **blocklist_env(hosts_server, tmp_path, signing_seed),
        "PHOENIX_BLOCKLIST_INTERVAL_SECONDS": "2",
        "PHOENIX_ENV": "test",
    }
    client = redis.Redis.from_url(redis_url)

    def taken() -> list[bytes]:
        return sorted(client.scan_iter(match=f"{namespace}:schedule:blocklist:base:*"))

    servers = [RoleServer("worker", env, tmp_path / f"worker{i}.log").start() for i in (1, 2)]
    try:
        # Three periods with both running, however long the machine took to start them.
        before = len(taken())
        wait_until(lambda: len(taken()) >= before + 3, 60)
    finally:
        codes = [server.stop() for server in servers]
    assert codes == [0, 0]
    slots = taken()
    holders = {client.get(slot) for slot in slots}
    client.close()
    assert len(slots) >= 3
    # One fetch per period: without the lock each process would fetch, twice as many.
    wait_until(lambda: len(hosts_server.requests) >= len(slots) - 1, 10)
    assert len(hosts_server.requests) in (len(slots) - 1, len(slots))
    assert [r.status for r in hosts_server.requests[1:]] == [304] * (len(hosts_server.requests) - 1)
    fired = sum(s.logs().count('"schedule_fired"') for s in servers)
    assert fired == len(slots)
    assert len(holders) >= 1
