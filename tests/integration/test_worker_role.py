"""The worker role runs Dramatiq workers inside its process, on Redis or RabbitMQ."""

from __future__ import annotations

import threading
from pathlib import Path

import dramatiq
import pytest
from litestar.testing import TestClient

from phoenix.common.web import ops_app
from phoenix.worker.app import create_app
from phoenix.worker.broker import make_broker
from phoenix.worker.settings import WorkerSettings
from tests.harness.processes import RoleServer


def _settings(kind: str, url: str, namespace: str) -> WorkerSettings:
    return WorkerSettings(broker=kind, broker_url=url, broker_namespace=namespace, worker_threads=2)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_the_role_processes_messages_while_its_app_runs(
    kind: str, redis_url: str, rabbitmq_url: str, unique: str
) -> None:
    settings = _settings(
        kind, redis_url if kind == "redis" else rabbitmq_url, f"phoenix-test-{unique}"
    )
    broker = make_broker(settings)
    done = threading.Event()
    seen: list[int] = []

    def record(value: int) -> None:
        seen.append(value)
        done.set()

    actor = dramatiq.actor(
        record, broker=broker, queue_name=f"test-{unique}", actor_name=f"record_{unique}"
    )
    try:
        app = create_app(settings, broker=broker)
        with TestClient(app), TestClient(ops_app(app)) as ops:
            assert ops.get("/readyz").json()["checks"] == {"broker": "ok"}
            actor.send(42)
            assert done.wait(20), "the worker did not process the message"
        assert seen == [42]
    finally:
        if kind == "redis":
            broker.flush_all()  # only this test's namespace
        broker.close()
        if kind == "rabbitmq":
            _delete_queues(rabbitmq_url, f"test-{unique}")


def _delete_queues(url: str, queue: str) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
        channel.queue_delete(name)
    connection.close()


def test_readiness_reports_an_unreachable_broker() -> None:
    settings = _settings("redis", "redis://127.0.0.1:1/0", "phoenix-test-down")
    with TestClient(ops_app(create_app(settings))) as ops:
        answer = ops.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"] == {"broker": "down"}


def test_serve_role_worker_answers_health_and_stops_on_sigterm(
    tmp_path: Path, redis_url: str, unique: str
) -> None:
    server = RoleServer(
        "worker",
        {
            "PHOENIX_BROKER": "redis",
            "PHOENIX_BROKER_URL": redis_url,
            "PHOENIX_BROKER_NAMESPACE": f"phoenix-test-{unique}",
        },
        tmp_path / "worker.log",
    ).start()
    try:
        import httpx

        assert httpx.get(server.ops_url + "/readyz").json()["checks"] == {"broker": "ok"}
    finally:
        assert server.stop() == 0
    assert "workers_stopped" in server.logs()
