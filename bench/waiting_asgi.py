"""The least an ASGI app can be while requests wait: each request sleeps until its wait is over.

``bench fleet`` holds 10,000 requests open on it, served by granian as config is, so the RSS
granian and asyncio need for that many waiting requests is measured in the same run as config's
(the floor under config's RSS goal). Serve ``bench.waiting_asgi:app``; ``GET /healthz`` answers
at once, any other path after :data:`WAIT_SECONDS`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

WAIT_SECONDS: Final = 60.0

_ANSWER: Final = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-length", b"2"), (b"content-type", b"application/json")],
}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] != "/healthz":
        await asyncio.sleep(WAIT_SECONDS)
    await send(_ANSWER)
    await send({"type": "http.response.body", "body": b"{}"})
