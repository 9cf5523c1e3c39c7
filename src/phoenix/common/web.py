"""Assembles a role's Litestar app with everything every role shares.

A role's ``create_app`` hands in its route handlers, readiness checks and lifecycle hooks; this
adds health, metrics, OpenAPI (every error documented as the problem it is), problem documents,
the body limit and the access log, so no role can forget one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.prometheus import PrometheusController
from litestar.types import ControllerRouterHandler, ExceptionHandlersMap

from phoenix import __version__
from phoenix.common.accesslog import AccessLog
from phoenix.common.health import ReadinessCheck, health_controller
from phoenix.common.httpmetrics import RequestMetrics
from phoenix.common.openapi import document_problems
from phoenix.common.problems import exception_handlers
from phoenix.settings import CommonSettings

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def build_app(
    *,
    role: str,
    settings: CommonSettings,
    route_handlers: Sequence[ControllerRouterHandler] = (),
    checks: Sequence[ReadinessCheck] = (),
    lifespan: Sequence[Lifespan] = (),
    state: dict[str, Any] | None = None,
    extra_exception_handlers: ExceptionHandlersMap | None = None,
) -> Litestar:
    app = Litestar(
        route_handlers=[
            health_controller(role, checks, settings.readiness_timeout),
            MetricsController,
            *route_handlers,
        ],
        exception_handlers={**exception_handlers(), **(extra_exception_handlers or {})},
        lifespan=list(lifespan),
        openapi_config=OpenAPIConfig(
            title=f"Phoenix {role}",
            version=__version__,
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
        compression_config=CompressionConfig(backend="gzip", minimum_size=1024),
        request_max_body_size=settings.max_body_bytes,
        debug=False,
        logging_config=None,
        state=_state(role, state),
    )
    document_problems(app)
    # Wrap the handler chain (not a Litestar middleware, which skips unmatched routes).
    # Request metrics are recorded there too, labelled by route template, never a concrete path.
    app.asgi_handler = AccessLog(app.asgi_handler, RequestMetrics(f"phoenix_{role}"))
    return app


def _state(role: str, extra: dict[str, Any] | None) -> Any:
    from litestar.datastructures import State

    return State({"role": role, **(extra or {})})
