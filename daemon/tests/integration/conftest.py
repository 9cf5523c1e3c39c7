"""The daemon's parts against the real kernel: network namespaces, wireguard-go, nftables."""

from __future__ import annotations

from node_harness.fixtures import node_ns

__all__ = ["node_ns"]
