"""phoenix.common.bearer: how every role reads a shared secret out of Authorization."""

from __future__ import annotations

import pytest
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.testing import TestClient

from phoenix.common.bearer import bearer, matches_any, require_secret, secret_guard
from phoenix.common.problems import Problem, exception_handlers


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


class Refused(Problem):
    status = 401
    slug = "refused"
    title = "Refused"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic czNjcmV0", "Bearer wrong"])
def test_require_secret_raises_the_roles_own_refusal_whatever_is_wrong(header: str | None) -> None:
    with pytest.raises(Refused):
        require_secret(header, ["s3cret"], Refused)


def test_require_secret_takes_one_secret_or_several() -> None:
    require_secret("Bearer s3cret", "s3cret", Refused)
    require_secret("Bearer new", ["old", "new"], Refused)
    with pytest.raises(Refused):
        require_secret("Bearer ", "", Refused)  # an unset secret lets nobody in


def test_a_secret_guard_reads_the_secret_the_app_factory_put_in_state() -> None:
    @get("/guarded", guards=[secret_guard("monitor_token", Refused)], sync_to_thread=False)
    def guarded() -> str:
        return "in"

    app = Litestar(
        [guarded], state=State({"monitor_token": "s3cret"}), exception_handlers=exception_handlers()
    )
    with TestClient(app) as client:
        assert client.get("/guarded", headers={"Authorization": "Bearer s3cret"}).text == "in"
        assert client.get("/guarded", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert client.get("/guarded").status_code == 401
