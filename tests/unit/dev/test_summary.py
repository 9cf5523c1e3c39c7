"""Once `make dev` serves, it says how to try it, and why there is no exit node if there is none."""

from __future__ import annotations

import pytest

from phoenix.dev.summary import print_summary


def test_the_summary_says_how_to_try_it_and_why_there_is_no_node(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_summary("the local exit node needs root (network namespaces): control plane only")
    out = capsys.readouterr().out
    assert "exit node  none: the local exit node needs root" in out
    for step in ("signup --email", "dev grant --email", "tokens fetch", "connect --location"):
        assert step in out
