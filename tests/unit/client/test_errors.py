"""Every error a server answers becomes one line with what happened and what to do, and an exit
code that says whether retrying later can help."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from phoenix.client.errors import (
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    from_firebase,
    from_problem,
)

BASE = "https://phoenix.invalid/problems/"


def answer(status: int, body: Any = None, **headers: str) -> httpx.Response:
    request = httpx.Request("POST", "http://127.0.0.1:1/x")
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


def problem(status: int, slug: str, title: str, detail: str | None = None) -> dict[str, Any]:
    document = {"type": BASE + slug, "title": title, "status": status}
    return document if detail is None else {**document, "detail": detail}


@pytest.mark.parametrize(
    ("status", "slug", "title", "words"),
    [
        (401, "unauthenticated", "Unauthenticated", "phoenix-client login"),
        (403, "not-entitled", "No active subscription", "subscribe first"),
        (401, "token-spent", "Token already spent", "gone from the wallet"),
        (401, "invalid-token", "Invalid token", "gone from the wallet"),
        (404, "unknown-location", "Unknown location", "phoenix-client locations"),
        (422, "invalid-client-key", "Invalid client key", "Invalid client key"),
    ],
)
def test_a_refusal_is_one_line_with_a_hint(status: int, slug: str, title: str, words: str) -> None:
    error = from_problem("config", answer(status, problem(status, slug, title)))
    assert error.exit_code == EXIT_REFUSED
    assert error.slug == slug
    text = str(error)
    assert "\n" not in text
    assert text.startswith(f"config answered {status} {title}")
    assert words in text


def test_the_detail_and_retry_after_are_said() -> None:
    body = problem(429, "issuance-quota-exhausted", "Quota spent", "200 tokens per 24 hours")
    text = str(from_problem("auth", answer(429, body, **{"retry-after": "3600"})))
    assert text == (
        "auth answered 429 Quota spent: 200 tokens per 24 hours "
        "(the daily token quota is spent; retry after 3600 s)"
    )


def test_a_server_failure_says_try_later() -> None:
    body = problem(503, "no-capacity", "No capacity")
    assert from_problem("config", answer(503, body)).exit_code == EXIT_UNAVAILABLE
    bare = from_problem("config", answer(502))
    assert bare.exit_code == EXIT_UNAVAILABLE
    assert str(bare) == "config answered 502 Bad Gateway"


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("EMAIL_EXISTS", "use phoenix-client login"),
        ("INVALID_LOGIN_CREDENTIALS", "wrong email or password"),
        ("WEAK_PASSWORD : Password should be at least 6 characters", "too weak"),
        ("SOMETHING_NEW", "SOMETHING_NEW"),
    ],
)
def test_firebase_errors_are_said_in_words(message: str, words: str) -> None:
    error = from_firebase(answer(400, {"error": {"code": 400, "message": message}}))
    assert str(error).startswith("Firebase: ")
    assert words in str(error)
    assert error.exit_code == EXIT_REFUSED


def test_what_the_server_already_said_is_not_said_twice() -> None:
    body = problem(403, "not-entitled", "No active subscription", "No active subscription")
    assert str(from_problem("auth", answer(403, body))) == (
        "auth answered 403 No active subscription (subscribe first)"
    )
    hint = "try another location (phoenix-client locations)"
    body = problem(503, "no-capacity", "No capacity", hint)
    assert (
        str(from_problem("config", answer(503, body))) == f"config answered 503 No capacity: {hint}"
    )
