"""A hello-world Litestar app: the anchor for "our route vs the framework's minimum".

Serve it as ``bench.hello:create_app`` (factory) or ``bench.hello:app``, on the same server as
the figure it anchors, and request ``GET /`` (:data:`PATH`).

Two more routes measure what a POST endpoint that keeps state costs at least, as information
next to that anchor: :data:`BODY_PATH` reads and decodes a JSON body (under granian, receiving a
body is a hand-off from its Rust side of its own), and :data:`REDIS_PATH` also stores it with a
Redis ``SET ... EX`` of its own, one round trip per request. The latter exists only when
``PHOENIX_BENCH_FLOOR_REDIS_URL`` names a Redis.
"""

from __future__ import annotations

import os
from typing import Any, Final

import msgspec
from litestar import Litestar, Request, get, post
from litestar.types import ControllerRouterHandler

PATH: Final = "/"
BODY_PATH: Final = "/floor/body"
REDIS_PATH: Final = "/floor/redis"
REDIS_URL_VARIABLE: Final = "PHOENIX_BENCH_FLOOR_REDIS_URL"


@get(PATH, sync_to_thread=False)
def hello() -> str:
    return "Hello, world!"


@post(BODY_PATH, status_code=200)
async def body(request: Request[Any, Any, Any]) -> dict[str, int]:
    decoded = msgspec.json.decode(await request.body())
    return {"fields": len(decoded)}


def _stored_route(redis_url: str) -> ControllerRouterHandler:
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)

    @post(REDIS_PATH, status_code=200)
    async def stored(request: Request[Any, Any, Any]) -> dict[str, int]:
        raw = await request.body()
        decoded = msgspec.json.decode(raw)
        await redis.set("phoenix:bench:floor", raw, ex=300)
        return {"fields": len(decoded)}

    return stored


def create_app() -> Litestar:
    handlers: list[ControllerRouterHandler] = [hello, body]
    redis_url = os.environ.get(REDIS_URL_VARIABLE)
    if redis_url:
        handlers.append(_stored_route(redis_url))
    return Litestar(handlers)


app = create_app()
