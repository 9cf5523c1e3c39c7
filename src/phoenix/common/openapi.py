"""What a role's OpenAPI document says of its problem answers and of bodies decoded by hand.

Every error a role sends is an ``application/problem+json`` document (its exception handlers see
to it), so the document says so too: a route lists the problems it can answer with
:func:`problem_answers`, and :class:`ProblemOperation` (set on every route by ``build_app``) turns
the 400 Litestar lists by itself for a route with parameters into the same problem document.

Bodies a handler decodes itself (strict msgspec, to answer 415/400/422 as we choose) are invisible
to Litestar; :func:`json_body` publishes msgspec's own JSON Schema of the Struct instead, which is
exactly what the decoder enforces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, Reference, RequestBody, Schema
from litestar.openapi.spec import OpenAPIResponse as Answer

from phoenix.common.problems import PROBLEM_JSON, TITLES, Problem, ProblemDocument

# The component Litestar registers for ProblemDocument (every app has /readyz, which uses it).
PROBLEM_SCHEMA = Reference(ref="#/components/schemas/ProblemDocument")
# For a route that honours If-None-Match with its ETag.
NOT_MODIFIED = ResponseSpec(None, description="Not modified: the If-None-Match ETag is current")


def problem_answers(*answers: type[Problem] | int) -> dict[int, ResponseSpec]:
    """A route's ``responses=``: each problem it can answer (a Problem class, or a status
    Litestar itself answers, e.g. 413), as ``application/problem+json``; one entry per status."""
    described: dict[int, list[str]] = {}
    for answer in answers:
        if isinstance(answer, int):
            status, title = answer, TITLES[answer]
        else:
            status, title = answer.status, answer.title
        if title not in described.setdefault(status, []):
            described[status].append(title)
    return {
        status: ResponseSpec(
            data_container=ProblemDocument,
            media_type=PROBLEM_JSON,
            description="; ".join(titles),
            generate_examples=False,
        )
        for status, titles in sorted(described.items())
    }


@dataclass
class ProblemOperation(Operation):
    """An operation whose every 4xx/5xx is documented as the problem document it is."""

    def __post_init__(self) -> None:
        for status, answer in (self.responses or {}).items():
            if not isinstance(answer, Answer) or status[0] not in "45" or not answer.content:
                continue
            if list(answer.content) != [PROBLEM_JSON]:
                # Litestar's own 400 for a route with parameters, documented as its JSON shape.
                answer.content = {PROBLEM_JSON: OpenAPIMediaType(schema=PROBLEM_SCHEMA)}


@dataclass
class _JSONSchema(Schema):
    """A JSON Schema made by msgspec, handed to the OpenAPI document as it is."""

    json_schema: dict[str, Any] = field(default_factory=dict)

    def to_schema(self) -> dict[str, Any]:
        return self.json_schema


def _inline(schema: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        reference = schema.get("$ref")
        if isinstance(reference, str):
            return _inline(definitions[reference.rsplit("/", 1)[-1]], definitions)
        return {key: _inline(value, definitions) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_inline(item, definitions) for item in schema]
    return schema


def struct_schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """``struct`` as JSON Schema, self-contained: every enumeration, bound and pattern the strict
    decoder enforces, and ``additionalProperties: false`` where unknown fields are refused."""
    (root,), definitions = msgspec.json.schema_components([struct])
    inlined: dict[str, Any] = _inline(root, definitions)
    return inlined


def json_body(
    struct: type[msgspec.Struct], description: str, also: tuple[str, ...] = ()
) -> type[ProblemOperation]:
    """An ``operation_class`` documenting the JSON body a handler decodes itself as ``struct``;
    ``also``: text media types its success may be sent as instead (the client's Accept)."""
    return operation(body={"application/json": struct_schema(struct)}, about=description, also=also)


def bytes_body(
    media_types: tuple[str, ...], description: str, answers: tuple[str, ...] = ()
) -> type[ProblemOperation]:
    """An ``operation_class`` documenting a body read as bytes, in any of ``media_types``;
    ``answers``: the media types its success is sent in, as bytes."""
    return operation(body=dict.fromkeys(media_types, _BINARY), about=description, answers=answers)


_BINARY: Final[dict[str, Any]] = {"type": "string", "format": "binary"}
_TEXT: Final[dict[str, Any]] = {"type": "string"}


def operation(
    *,
    body: dict[str, dict[str, Any]] | None = None,
    about: str = "",
    answers: tuple[str, ...] = (),
    also: tuple[str, ...] = (),
) -> type[ProblemOperation]:
    """An ``operation_class``: ``body`` (media type → JSON Schema) read by hand; a success sent
    in bytes of ``answers`` instead of what Litestar saw; or ``also`` as text of those types."""

    @dataclass
    class DocumentedOperation(ProblemOperation):
        def __post_init__(self) -> None:
            super().__post_init__()
            if body is not None:
                self.request_body = RequestBody(
                    content={kind: _media(schema) for kind, schema in body.items()},
                    required=True,
                    description=about,
                )
            success = next((a for s, a in (self.responses or {}).items() if s[0] == "2"), None)
            if isinstance(success, Answer):
                if answers:
                    success.content = {kind: _media(_BINARY) for kind in answers}
                for kind in also:
                    success.content = {**(success.content or {}), kind: _media(_TEXT)}

    return DocumentedOperation


def _media(schema: dict[str, Any]) -> OpenAPIMediaType:
    return OpenAPIMediaType(schema=_JSONSchema(json_schema=schema))


def document_problems(app: Litestar) -> None:
    """Every route of ``app`` documents its errors as problems (see ProblemOperation)."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            if handler.operation_class is Operation:
                handler.operation_class = ProblemOperation
            elif not issubclass(handler.operation_class, ProblemOperation):
                raise TypeError(f"{handler}: a custom operation_class must be a ProblemOperation")
