"""Settings of the worker role. It holds no database URL: it talks to other roles over HTTP."""

from __future__ import annotations

from typing import Annotated, Literal

from phoenix.settings import SECRET, CommonSettings

DEFAULT_URLS = {
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/%2F",
}


class WorkerSettings(CommonSettings, kw_only=True, frozen=True):
    broker: Literal["redis", "rabbitmq"] = "redis"
    # Defaults to the local server of the chosen broker.
    broker_url: Annotated[str, SECRET] = ""
    # Dramatiq's namespace (Redis key prefix) — lets two deployments share one Redis.
    broker_namespace: str = "phoenix"
    worker_threads: int = 4

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or DEFAULT_URLS[self.broker]
