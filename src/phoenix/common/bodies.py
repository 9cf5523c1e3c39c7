"""Strict JSON request bodies: 400 for bytes that are not JSON, 422 for JSON of the wrong shape."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request

from phoenix.common.problems import Problem

T = TypeVar("T")


class MalformedBody(Problem):
    status = 400
    slug = "malformed-body"
    title = "The body is not valid JSON"


class InvalidBody(Problem):
    status = 422
    slug = "invalid-body"
    title = "The body does not have the expected fields"


class UnsupportedBodyType(Problem):
    status = 415
    slug = "unsupported-media-type"
    title = "Send application/json"


async def decode_json(request: Request[Any, Any, Any], into: type[T]) -> T:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedBodyType()
    body = await request.body()
    try:
        return msgspec.json.decode(body, type=into, strict=True)
    except msgspec.ValidationError as error:
        # msgspec names the field ("at `$.public_key`"); the value sent is never echoed.
        raise InvalidBody(str(error)) from None
    except msgspec.DecodeError:
        raise MalformedBody() from None
