"""Redis away is a 503 on every route, never a 500.

Redemption handles Redis failures where they decide the answer (the spent mark fails closed);
everywhere else — heartbeats, locations, drains, listings — a Redis that restarts or is
unreachable surfaces as a redis-py error or a socket error, answered here as one problem.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.types import ExceptionHandlersMap
from redis.exceptions import RedisError

from phoenix.common.logging import get_logger
from phoenix.common.problems import Problem, problem_response

_log = get_logger(__name__)


class RedisUnavailable(Problem):
    status = 503
    slug = "redis-unavailable"
    title = "The node state store is unavailable for a moment"


def _on_redis_error(_: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    _log.warning("redis_unavailable", error=type(error).__name__)
    problem = RedisUnavailable(headers={"Retry-After": "2"})
    return problem_response(problem.document(), problem.headers)


def exception_handlers() -> ExceptionHandlersMap:
    return {RedisError: _on_redis_error, ConnectionError: _on_redis_error}
