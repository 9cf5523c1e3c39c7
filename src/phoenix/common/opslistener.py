"""The operations listener: a role's ``/metrics``, ``/readyz`` and ``/schema`` on a port of their
own (``PHOENIX_OPS_HOST``/``PHOENIX_OPS_PORT``, loopback by default), never on the public one.

It runs inside each server worker, in the worker's own event loop, so it answers from the very
objects the public app uses (engines, pools, the issuer directory's last copy). Granian serves one
address per server and its embedded mode says it is experimental, so uvicorn serves this one, on a
socket bound here: uvicorn's ``Server.serve(sockets=...)`` is its documented way to run inside a
loop someone else owns (gunicorn's worker class does the same).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Final

import uvicorn
from litestar.types import ASGIApp

from phoenix.common.logging import get_logger

# Seconds the listener waits for an answer in progress when the worker stops.
_GRACE: Final = 5

_log = get_logger("phoenix.ops")


def bind(host: str, port: int, *, shared: bool) -> socket.socket:
    """A listening TCP socket on ``host:port``. ``shared``: with SO_REUSEPORT, so every server
    worker (and a respawned worker, which Granian starts before it stops the old one) listens on
    the same port; the kernel spreads connections over them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def check_free(host: str, port: int) -> None:
    """Raise OSError unless ``host:port`` can be listened on. Bound without SO_REUSEPORT, so a
    port another process (or another `phoenix serve`) listens on, even shared, is refused."""
    bind(host, port, shared=False).close()


class _Embedded(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Granian owns the worker's signals; this listener stops with the app's lifespan.
        yield


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, host: str, port: int) -> AsyncIterator[None]:
    """Serve ``app`` on ``host:port`` in the running loop until the block ends."""
    sock = bind(host, port, shared=True)
    config = uvicorn.Config(
        app,
        lifespan="off",  # the public app's lifespan, run by Granian, owns the resources
        http="h11",
        ws="none",
        log_config=None,
        log_level="warning",
        access_log=False,  # phoenix.common.accesslog logs each request, without addresses
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=_GRACE,
    )
    server = _Embedded(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    # uvicorn.Server says it started by a flag, not an event.
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    if task.done():
        sock.close()
        task.result()  # raises what stopped it
        raise RuntimeError("the operations listener stopped as it started")
    _log.info("ops_listener_started", host=host, port=port)
    try:
        yield
    finally:
        server.should_exit = True
        await task
