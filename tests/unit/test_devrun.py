"""`make dev` without root runs the control plane alone and says why in one line."""

from __future__ import annotations

import pytest

from phoenix import devrun


def test_without_root_the_local_exit_node_is_refused_with_a_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(devrun.os, "geteuid", lambda: 1000)
    assert devrun.LocalNode.unavailable() == (
        "the local exit node needs root (network namespaces): control plane only"
    )


def test_a_missing_tool_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devrun.os, "geteuid", lambda: 0)
    monkeypatch.setattr(devrun.shutil, "which", lambda tool: None if tool == "nft" else tool)
    assert devrun.LocalNode.unavailable() == (
        "the local exit node needs nft (make dev installs it): control plane only"
    )


def test_the_summary_says_how_to_try_it_and_why_there_is_no_node(
    capsys: pytest.CaptureFixture[str],
) -> None:
    devrun._summary("the local exit node needs root (network namespaces): control plane only")
    out = capsys.readouterr().out
    assert "exit node  none: the local exit node needs root" in out
    for step in ("signup --email", "dev grant --email", "tokens fetch", "connect --location"):
        assert step in out


def test_a_taken_relay_port_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The namespace commands are skipped here (they need root); the relay's bind fails."""
    monkeypatch.setattr(devrun, "_ip", lambda *args: None)
    monkeypatch.setattr(devrun.LocalNode, "remove", lambda self: None)

    def taken(*args: object) -> None:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(devrun, "_Relay", taken)
    with pytest.raises(devrun.DevError, match=r"cannot listen on .*\(Address already in use\)"):
        devrun.LocalNode({}).start()
