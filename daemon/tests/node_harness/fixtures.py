"""Fixtures shared by the daemon's tests and the server's tests that run a daemon.

A conftest takes them by importing them (`from node_harness.fixtures import node_ns`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from node_harness import netns, wireguard
from node_harness.netns import Netns
from node_harness.skips import require


@pytest.fixture
def node_ns() -> Iterator[Netns]:
    """A network namespace of the test's own for the node, where wireguard-go can run."""
    ok, why = netns.available()
    require("network namespaces", ok, why)
    ok, why = wireguard.available()
    require("wireguard-go", ok, why)
    ns = Netns("node")
    yield ns
    ns.delete()
