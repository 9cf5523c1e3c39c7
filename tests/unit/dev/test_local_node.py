"""`make dev` without root runs the control plane alone and says why in one line."""

from __future__ import annotations

import pytest

from phoenix.dev import local_node
from phoenix.dev.errors import DevError
from phoenix.dev.local_node import LocalNode


def test_without_root_the_local_exit_node_is_refused_with_a_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local_node.os, "geteuid", lambda: 1000)
    assert LocalNode.unavailable() == (
        "the local exit node needs root (network namespaces): control plane only"
    )


def test_a_missing_tool_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_node.os, "geteuid", lambda: 0)
    monkeypatch.setattr(local_node.shutil, "which", lambda tool: None if tool == "nft" else tool)
    assert LocalNode.unavailable() == (
        "the local exit node needs nft (make dev installs it): control plane only"
    )


def test_a_taken_relay_port_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The namespace commands are skipped here (they need root); the relay's bind fails."""
    monkeypatch.setattr(local_node, "_ip", lambda *args: None)
    monkeypatch.setattr(LocalNode, "remove", lambda self: None)

    def taken(*args: object) -> None:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(local_node, "Relay", taken)
    with pytest.raises(DevError, match=r"cannot listen on .*\(Address already in use\)"):
        LocalNode({}).start()
