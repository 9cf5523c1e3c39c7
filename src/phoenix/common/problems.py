"""RFC 9457 problem documents for every error, in one place.

Handlers raise :class:`Problem` (or a subclass) or a Litestar HTTP exception; this module turns
each into ``application/problem+json``. An unexpected exception becomes a bare 500 whose body says
nothing about the cause; the trace goes to the server log only.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any, ClassVar, Final

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from phoenix.common.logging import get_logger

PROBLEM_JSON: Final = "application/problem+json"
PROBLEM_BASE: Final = "https://phoenix.invalid/problems/"


class ProblemDocument(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None
    checks: dict[str, str] | None = None


class Problem(Exception):
    """A domain error with its HTTP status; subclasses set ``status``, ``slug`` and ``title``."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        checks: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = headers or {}
        self.checks = checks

    def document(self) -> ProblemDocument:
        return ProblemDocument(
            type=PROBLEM_BASE + self.slug,
            title=self.title,
            status=self.status,
            detail=self.detail,
            checks=self.checks,
        )


class NotReady(Problem):
    status = 503
    slug = "not-ready"
    title = "Not ready"


# The title of each status a problem can have; also the description of a documented answer.
TITLES: Final = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}

_log = get_logger("phoenix.problems")


def problem_response(
    document: ProblemDocument, headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        content=msgspec.json.encode(document),
        status_code=document.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _slug(status: int) -> str:
    return TITLES.get(status, "error").lower().replace(" ", "-")


def _on_problem(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, Problem)
    return problem_response(exc.document(), exc.headers)


def _on_validation(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, ValidationException)
    # Litestar's extra carries the failing key and message; values the client sent are dropped.
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            errors.append({k: v for k, v in item.items() if k in ("key", "message", "source")})
    status = exc.status_code
    document = ProblemDocument(
        type=PROBLEM_BASE + "invalid-request",
        title=TITLES.get(status, "Bad request"),
        status=status,
        detail=_safe_detail(exc.detail, status),
        errors=errors or None,
    )
    return problem_response(document)


def _on_http(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status >= HTTP_500_INTERNAL_SERVER_ERROR:
        _log.error("http_exception", status=status, error_type=type(exc).__name__)
    document = ProblemDocument(
        type=PROBLEM_BASE + _slug(status),
        title=TITLES.get(status, "Error"),
        status=status,
        detail=_safe_detail(exc.detail, status),
    )
    headers = dict(exc.headers or {})
    return problem_response(document, headers or None)


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The client learns only that it was our fault. Operators get the route template, the
    # exception's type and where it was raised -- never its message, which may quote the body
    # (a value that failed a lookup) or a path parameter, nor the concrete path.
    _log.error(
        "unhandled_exception",
        method=request.scope.get("method"),
        route=request.scope.get("path_template") or "unmatched",
        error_type=type(exc).__name__,
        frames=_frames(exc),
    )
    document = ProblemDocument(type=PROBLEM_BASE + "internal-error", title=TITLES[500], status=500)
    return problem_response(document)


def _frames(exc: BaseException) -> list[str]:
    """Where ``exc`` passed, innermost last, as ``module-file:line in function`` (no values)."""
    return [
        f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
        for frame in traceback.extract_tb(exc.__traceback__)
    ]


def _safe_detail(detail: str, status: int) -> str | None:
    if status >= HTTP_500_INTERNAL_SERVER_ERROR:
        return None
    title = TITLES.get(status, "")
    return detail if detail and detail.lower() != title.lower() else None


def exception_handlers() -> ExceptionHandlersMap:
    return {
        Problem: _on_problem,
        ValidationException: _on_validation,
        HTTPException: _on_http,
        Exception: _on_unexpected,
    }
