"""The Dramatiq broker, built from settings; Redis by default, RabbitMQ by choice."""

from __future__ import annotations

import asyncio

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker

from phoenix.worker.settings import WorkerSettings


def make_broker(settings: WorkerSettings) -> dramatiq.Broker:
    url = settings.resolved_broker_url
    if settings.broker == "rabbitmq":
        return RabbitmqBroker(url=url, confirm_delivery=True)
    return RedisBroker(url=url, namespace=settings.broker_namespace)  # type: ignore[no-untyped-call]


async def ping(settings: WorkerSettings) -> None:
    """Open and close a real connection to the broker (in a thread: both clients block)."""
    await asyncio.to_thread(_ping_blocking, settings)


def _ping_blocking(settings: WorkerSettings) -> None:
    url = settings.resolved_broker_url
    if settings.broker == "rabbitmq":
        import pika

        parameters = pika.URLParameters(url)
        parameters.socket_timeout = settings.readiness_timeout
        parameters.blocked_connection_timeout = settings.readiness_timeout
        parameters.connection_attempts = 1
        connection = pika.BlockingConnection(parameters)
        connection.close()
        return
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=settings.readiness_timeout)
    try:
        client.ping()
    finally:
        client.close()
