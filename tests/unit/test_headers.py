"""A request header read from the ASGI scope answers as Litestar's ``request.headers`` would."""

from __future__ import annotations

from typing import Any

from litestar import Request

from phoenix.common.headers import header


def request_with(headers: list[tuple[bytes, bytes]]) -> Request[Any, Any, Any]:
    return Request({"type": "http", "headers": headers, "state": {}})  # type: ignore[typeddict-item]


def test_a_header_is_found_by_its_lower_case_name() -> None:
    request = request_with([(b"host", b"x"), (b"authorization", b"Bearer abc")])
    assert header(request, b"authorization") == "Bearer abc"


def test_an_absent_header_is_none() -> None:
    assert header(request_with([(b"host", b"x")]), b"authorization") is None


def test_of_a_repeated_header_the_first_value_is_read_like_litestar_s() -> None:
    request = request_with([(b"accept", b"text/plain"), (b"accept", b"application/json")])
    assert header(request, b"accept") == request.headers.get("accept") == "text/plain"


def test_a_value_s_bytes_are_latin_1_like_litestar_s() -> None:
    request = request_with([(b"x-note", "café".encode("latin-1"))])
    assert header(request, b"x-note") == request.headers.get("x-note") == "café"
