"""Assembles a role's Litestar app with everything every role shares.

A role's ``create_app`` hands in its route handlers, readiness checks and lifecycle hooks; this
adds health, metrics, OpenAPI (every error documented as the problem it is), problem documents,
the body limit and the access log, so no role can forget one of them.

Two apps come out, over the same objects: the public app (the role's API and ``/healthz``), which
``build_app`` returns, and its operations app (``/healthz``, ``/readyz``, ``/metrics`` and
``/schema/openapi.json``), which :func:`ops_app` returns. ``/metrics`` is a live series of the
role's traffic and ``/readyz`` reaches every dependency, so neither may answer on the public port;
`phoenix serve` puts the operations app on its own listener (:mod:`phoenix.common.opslistener`).
No route is shared by both but ``/healthz``, so the split costs a public request nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import cache
from typing import Any, Final

from litestar import Litestar, Router, get
from litestar.config.compression import CompressionConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.prometheus import PrometheusController
from litestar.serialization import encode_json
from litestar.types import ControllerRouterHandler, ExceptionHandlersMap

from phoenix import __version__
from phoenix.common import buildinfo
from phoenix.common.accesslog import AccessLog
from phoenix.common.health import ReadinessCheck, health_controller, readiness_controller
from phoenix.common.httpmetrics import RequestMetrics
from phoenix.common.openapi import document_problems
from phoenix.common.problems import exception_handlers
from phoenix.settings import CommonSettings

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]

SCHEMA_PATH: Final = "/schema/openapi.json"
# Keys of the public app's state.
_OPS_APP: Final = "ops_app"
_OPS_ADDRESS: Final = "ops_address"
# Litestar's own media type for the document it serves.
_OPENAPI_JSON: Final = "application/vnd.oai.openapi+json"


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


# A route whose answers are always under the compression threshold says so with
# ``opt={SMALL_ANSWER: True}``: the middleware then steps aside before it parses the request's
# headers and, for a client that accepts gzip (every node's and app's HTTP client), before it
# builds a compressor that the size check then leaves unused. Those are the hottest routes:
# heartbeats, connects, analytics batches.
SMALL_ANSWER: Final = "small_answer"
_COMPRESSION: Final = CompressionConfig(
    backend="gzip", minimum_size=1024, exclude_opt_key=SMALL_ANSWER
)


def _not_here(_: ASGIConnection[Any, Any, Any, Any], __: BaseRouteHandler) -> None:
    raise NotFoundException()


def _unserved_schema_router() -> Router:
    # Litestar builds an app's OpenAPI document only from an app with an OpenAPI router; the
    # public app's one answers nothing (a 404 like any unknown path). The operations app serves
    # the document instead. Guards cost a copy of the handler per request: only /schema pays it.
    return Router(path="/schema", route_handlers=[], include_in_schema=False, guards=[_not_here])


def build_app(
    *,
    role: str,
    settings: CommonSettings,
    route_handlers: Sequence[ControllerRouterHandler] = (),
    checks: Sequence[ReadinessCheck] = (),
    lifespan: Sequence[Lifespan] = (),
    state: dict[str, Any] | None = None,
    extra_exception_handlers: ExceptionHandlersMap | None = None,
    long_polls: Sequence[str] = (),
    signing_backend: str = "none",
) -> Litestar:
    """The role's public app; its operations app is :func:`ops_app` of it.

    ``long_polls``: route templates whose requests wait by design, timed in their own series
    (phoenix.common.httpmetrics). ``signing_backend``: what ``phoenix_build_info`` says signs."""
    handlers = {**exception_handlers(), **(extra_exception_handlers or {})}
    app = Litestar(
        route_handlers=[health_controller(role), *route_handlers],
        exception_handlers=handlers,
        # Last: the operations listener starts once the role's resources are up, and stops first.
        lifespan=[*lifespan, _operations_listener],
        openapi_config=OpenAPIConfig(
            title=f"Phoenix {role}",
            version=__version__,
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
            openapi_router=_unserved_schema_router(),
        ),
        compression_config=_COMPRESSION,
        request_max_body_size=settings.max_body_bytes,
        debug=False,
        logging_config=None,
        state=_state(role, state),
    )
    document_problems(app)
    _log_requests(app, role, frozenset(long_polls))
    buildinfo.publish(role, signing_backend)
    app.state[_OPS_APP] = _operations_app(role, settings, checks, handlers, app)
    return app


def ops_app(app: Litestar) -> Litestar:
    """The operations app of a public app made by :func:`build_app`: what the operations listener
    serves, and what a test builds a client of to reach ``/readyz``, ``/metrics`` or the schema
    (it has no lifespan of its own: the public app's runs the role's resources)."""
    ops: Litestar = app.state[_OPS_APP]
    return ops


def listen_for_operations(app: Litestar, host: str, port: int) -> None:
    """While ``app`` runs (its lifespan), serve its operations app on ``host:port`` in the same
    event loop. `phoenix serve` does this in each server worker; a test's app does not."""
    app.state[_OPS_ADDRESS] = (host, port)


@asynccontextmanager
async def _operations_listener(app: Litestar) -> AsyncIterator[None]:
    address: tuple[str, int] | None = app.state.get(_OPS_ADDRESS)
    if address is None:
        yield
        return
    from phoenix.common.opslistener import serving

    async with serving(ops_app(app), *address):
        yield


def _operations_app(
    role: str,
    settings: CommonSettings,
    checks: Sequence[ReadinessCheck],
    handlers: ExceptionHandlersMap,
    public: Litestar,
) -> Litestar:
    @cache
    def document() -> bytes:
        return encode_json(public.openapi_schema.to_schema())

    @get(SCHEMA_PATH, media_type=_OPENAPI_JSON, include_in_schema=False, sync_to_thread=False)
    def openapi_document() -> bytes:
        """The public app's OpenAPI document (its routes: the operations app has none in it)."""
        return document()

    ops = Litestar(
        route_handlers=[
            health_controller(role),
            readiness_controller(role, checks, settings.readiness_timeout),
            MetricsController,
            openapi_document,
        ],
        exception_handlers=handlers,
        openapi_config=None,
        compression_config=_COMPRESSION,
        request_max_body_size=settings.max_body_bytes,
        debug=False,
        logging_config=None,
        state=_state(role, None),
    )
    _log_requests(ops, role)
    return ops


def _log_requests(app: Litestar, role: str, long_polls: frozenset[str] = frozenset()) -> None:
    # Wrap the handler chain (not a Litestar middleware, which skips unmatched routes).
    # Request metrics are recorded there too, labelled by route template, never a concrete path.
    metrics = RequestMetrics(f"phoenix_{role}", long_polls=long_polls)
    app.asgi_handler = AccessLog(app.asgi_handler, metrics)


def _state(role: str, extra: dict[str, Any] | None) -> Any:
    from litestar.datastructures import State

    return State({"role": role, **(extra or {})})
