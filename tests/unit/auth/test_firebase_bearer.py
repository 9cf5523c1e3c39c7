"""What is refused before any Firebase work: no header, another scheme, or a bearer value that is
not a compact JWS of a sane size. The SDK never sees these values."""

from __future__ import annotations

import pytest

from phoenix.auth.firebase import MAX_TOKEN_CHARS, Unauthenticated, bearer_token

# The shape of an emulator ID token (alg "none": the signature part is empty).
UNSIGNED = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
SIGNED = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


@pytest.mark.parametrize("token", [UNSIGNED, SIGNED])
def test_a_compact_jws_is_taken_whatever_the_scheme_case(token: str) -> None:
    assert bearer_token(f"Bearer {token}") == token
    assert bearer_token(f"  bearer   {token} ") == token


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer not-a-jwt",
        "Bearer a.b",
        "Bearer a.b.c.d",
        f"Bearer {SIGNED} extra",
        "Bearer a+b.c/d.e",
        "Bearer a.b.\tc",
        "Bearer ." + "a" * MAX_TOKEN_CHARS + ".",
    ],
    ids=[
        "none",
        "empty",
        "basic",
        "no-value",
        "blank-value",
        "not-a-jwt",
        "two-parts",
        "four-parts",
        "trailing-words",
        "not-base64url",
        "inner-tab",
        "too-long",
    ],
)
def test_anything_else_is_refused_with_401(authorization: str | None) -> None:
    with pytest.raises(Unauthenticated) as refused:
        bearer_token(authorization)
    assert refused.value.status == 401
    assert refused.value.headers["WWW-Authenticate"].startswith("Bearer")
