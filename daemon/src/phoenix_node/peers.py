"""Desired peers, the difference to what the interface has, and the mass-removal guard (pure).

A peer set maps a client's WireGuard public key (base64) to its allowed IPs. :func:`diff` says
what to add, what to update and what to remove; applying it is the backend's job, and applying
an empty plan writes nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

PeerSet = dict[str, frozenset[str]]


def normalise_ips(allowed_ips: Iterable[str]) -> frozenset[str]:
    """``10.0.0.2/32`` and ``fd00::0002/128`` written the way the interface reports them."""
    return frozenset(str(ipaddress.ip_network(ip, strict=False)) for ip in allowed_ips)


@dataclass(frozen=True, slots=True)
class PeerState:
    """A peer as the interface reports it (never leaves the node)."""

    public_key: str
    allowed_ips: frozenset[str]
    endpoint: str | None = None
    last_handshake: float = 0.0  # seconds since the epoch; 0 = never
    rx_bytes: int = 0
    tx_bytes: int = 0


@dataclass(frozen=True)
class Plan:
    add: PeerSet = field(default_factory=dict)
    update: PeerSet = field(default_factory=dict)
    remove: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.add or self.update or self.remove)

    def summary(self) -> dict[str, int]:
        return {"add": len(self.add), "update": len(self.update), "remove": len(self.remove)}

    def apply_to(self, peers: PeerSet) -> None:
        """Make ``peers`` what it is once this plan is applied (in place, no copy)."""
        for key in self.remove:
            peers.pop(key, None)
        peers.update(self.update)
        peers.update(self.add)


def diff(desired: Mapping[str, frozenset[str]], actual: Mapping[str, frozenset[str]]) -> Plan:
    add: PeerSet = {}
    update: PeerSet = {}
    for key, ips in desired.items():
        current = actual.get(key)
        if current is None:
            add[key] = ips
        elif current != ips:
            update[key] = ips
    remove = frozenset(key for key in actual if key not in desired)
    return Plan(add, update, remove)


def active_keys(peers: Iterable[PeerState], now: float, window: float) -> frozenset[str]:
    """Peers with a handshake in the last ``window`` seconds."""
    return frozenset(
        p.public_key for p in peers if p.last_handshake and now - p.last_handshake < window
    )


def stale_endpoints(peers: Iterable[PeerState], now: float, idle: float) -> list[PeerState]:
    """Peers that still remember a client endpoint but had no handshake for ``idle`` seconds."""
    return [
        p
        for p in peers
        if p.endpoint is not None and (not p.last_handshake or now - p.last_handshake >= idle)
    ]


Verdict = Literal["apply", "hold", "confirmed"]


class MassRemovalGuard:
    """Holds a snapshot that would remove more than ``share`` of the active peers, until a second
    snapshot in a row would do the same (then it is ``confirmed``). Deltas are never held: a
    removal announced one by one is a lease ending, not a lost registry."""

    def __init__(self, share: float) -> None:
        self.share = share
        self.holding = False

    def review(self, plan: Plan, active: Collection[str]) -> Verdict:
        removed_active = sum(1 for key in plan.remove if key in active)
        if not active or removed_active <= self.share * len(active):
            self.holding = False
            return "apply"
        if self.holding:
            self.holding = False
            return "confirmed"
        self.holding = True
        return "hold"
