"""phoenix.common.bearer: how every role reads a shared secret out of Authorization."""

from __future__ import annotations

import pytest

from phoenix.common.bearer import bearer, matches_any


@pytest.mark.parametrize(
    ("header", "credentials"),
    [
        ("Bearer s3cret", "s3cret"),
        ("bearer s3cret", "s3cret"),
        ("BEARER   s3cret  ", "s3cret"),
        ("  Bearer s3cret", "s3cret"),
        ("Bearer", None),
        ("Bearer   ", None),
        ("Basic czNjcmV0", None),
        ("s3cret", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_gives_the_credentials_of_a_bearer_header_only(
    header: str | None, credentials: str | None
) -> None:
    assert bearer(header) == credentials


def test_any_of_several_secrets_matches_while_one_is_rotated() -> None:
    assert matches_any("new", ["old", "new"])
    assert matches_any("old", ["old", "new"])
    assert not matches_any("other", ["old", "new"])


def test_an_empty_secret_matches_nothing_not_even_an_empty_credential() -> None:
    assert not matches_any("", [""])
    assert not matches_any("", [])
    assert not matches_any("x", ["", "y"])
