"""The access log: method, route template, status and duration — nothing else.

It is an ASGI wrapper around the app's handler chain rather than a Litestar middleware because
Litestar runs middleware only for matched routes, and 404/405 answers must be logged too. It
reads four things from the ASGI scope and deliberately nothing more: no client address, no
query string, no headers (so no credential, cookie or forwarding header can ever reach a line).
"""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from phoenix.common.httpmetrics import RequestMetrics
from phoenix.common.logging import HotPathLogger

_UNMATCHED = "<unmatched>"


class AccessLog:
    def __init__(self, app: ASGIApp, metrics: RequestMetrics | None = None) -> None:
        self._app = app
        self._log = HotPathLogger("phoenix.access")
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, recording_send)
        finally:
            self._emit(scope, status, time.perf_counter() - started)

    def _emit(self, scope: Scope, status: int, seconds: float) -> None:
        scope_map: dict[str, Any] = scope  # type: ignore[assignment]
        method = scope_map.get("method", "?")
        route = scope_map.get("path_template") or _UNMATCHED
        if self._metrics is not None:
            self._metrics.record(method, route, status, seconds)
        self._log.info(
            "request",
            method=method,
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 3),
        )
