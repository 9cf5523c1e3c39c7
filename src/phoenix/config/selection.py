"""Node selection: which exit node of a location gets the next peer (pure; no I/O).

The caller (``/v1/connect``) gathers one :class:`NodeLoad` per node from NodeDB and the hot
heartbeat metrics, then calls :func:`select_node`. ``None`` means that no node of the location
can take a peer: the caller answers 503 "no capacity". When the chosen node's address pool turns
out to be exhausted at allocation time (the snapshot is a little stale), the caller retries with
that node in ``exclude``.

Why the power of two choices: the loads we see are a heartbeat old (up to 10 s) and every
connect in a burst sees the same snapshot. "Always the least-loaded node" would send the whole
burst to that one node until its next heartbeat — herding. Sampling two eligible nodes at random
and taking the lighter one keeps most of the benefit of load awareness (Mitzenmacher, "The Power
of Two Choices in Randomized Load Balancing", 2001) while spreading a burst: with ``n`` nodes no
node is offered in more than ``2/n`` of the draws.

Speed: one call filters the whole fleet (a single list comprehension; about 0.3 ms for 10,000
nodes on the bench machine) and scores only the two sampled nodes. ``bench/selection.py`` holds
it to p99 <= 2 ms over 10,000 nodes.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from typing import Final

import msgspec

# The load score weights (they sum to 1, so an eligible node scores in [0, 1)):
# - peers / capacity is the operator's declared budget and what "full" means, so it leads. It
#   counts peers, not traffic, and lags (handshake within 180 s, reported every heartbeat).
# - CPU shows what a peer count hides: WireGuard's cost is per packet (encryption), so ten
#   streaming peers can cost more than a hundred idle ones. It is a sample over one heartbeat
#   interval, hence noisy, hence second.
# - load1 catches saturation CPU percent cannot show past 100 % (a growing run queue, softirq or
#   I/O backlog), but it is a one-minute moving average and its scale depends on the core count,
#   which heartbeats do not report; so it is squashed (see LOAD1_KNEE) and weighted least.
PEERS_WEIGHT: Final = 0.5
CPU_WEIGHT: Final = 0.35
LOAD1_WEIGHT: Final = 0.15
# load1 enters the score as load1 / (load1 + LOAD1_KNEE): 0 when idle, 1/2 at the knee, towards 1
# beyond. The knee is the core count of a typical small exit node (2 vCPUs): a load equal to the
# core count means every core is busy.
LOAD1_KNEE: Final = 2.0

_NO_EXCLUSIONS: Final[frozenset[uuid.UUID]] = frozenset()


class NodeLoad(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What selection knows about one node: a snapshot from NodeDB and its last heartbeat.

    ``gc=False``: the fields hold no containers, so instances can never be part of a reference
    cycle, and the garbage collector need not track the ten thousand of them a fleet makes.
    """

    node_id: uuid.UUID
    location: str
    # Peers the node accepts at most (from registration); 0 means "offer nothing".
    capacity: int
    # Peers with a handshake in the last 180 s (heartbeat).
    active_peers: int
    # CPU utilisation as a FRACTION in [0, 1] (0.55 means 55 %), averaged over all cores. A
    # heartbeat that reports percent must be divided by 100 before it gets here.
    cpu: float
    # One-minute load average, as in /proc/loadavg (>= 0; not divided by the core count).
    load1: float
    # The node is draining (or drained): it keeps its peers but takes no new ones.
    draining: bool
    # Its last heartbeat is within the TTL (30 s); a stale node may be gone.
    fresh: bool
    # Its address pool still has an unleased IPv4 and IPv6 address.
    has_free_addresses: bool

    def __post_init__(self) -> None:
        # Catches the likely mistakes early, above all a CPU percentage passed as a fraction.
        if self.capacity < 0 or self.active_peers < 0:
            raise ValueError("capacity and active_peers must be >= 0")
        if not 0.0 <= self.cpu <= 1.0:
            raise ValueError(f"cpu is a fraction in [0, 1], not {self.cpu!r} (percent?)")
        if not self.load1 >= 0.0:  # also refuses NaN
            raise ValueError(f"load1 must be >= 0, not {self.load1!r}")


def accepts_peers(node: NodeLoad, location: str) -> bool:
    """Whether ``node`` may be offered for ``location``: the filter :func:`select_node` applies.

    Fresh, not draining, of that location, with free addresses and room below its capacity
    (``active_peers < capacity``, which also rules out capacity 0).
    """
    return (
        node.location == location
        and node.fresh
        and not node.draining
        and node.has_free_addresses
        and node.active_peers < node.capacity
    )


def peer_load(node: NodeLoad) -> float:
    """The one per-node load: the share of its declared capacity in use, in [0, 1]; 1 is full
    (at or over capacity, or capacity 0). Selection weighs it; ``/v1/locations`` buckets it."""
    if node.capacity <= 0:
        return 1.0
    return min(1.0, node.active_peers / node.capacity)


def load_score(node: NodeLoad) -> float:
    """Lower is lighter; in [0, 1) for a node that :func:`accepts_peers`. See the weights above."""
    load1 = node.load1 / (node.load1 + LOAD1_KNEE)
    return PEERS_WEIGHT * peer_load(node) + CPU_WEIGHT * node.cpu + LOAD1_WEIGHT * load1


def select_node(
    nodes: Sequence[NodeLoad],
    location: str,
    *,
    rng: random.Random,
    exclude: frozenset[uuid.UUID] = _NO_EXCLUSIONS,
) -> NodeLoad | None:
    """The lighter of two distinct random nodes that accept peers for ``location``.

    ``rng`` is injected so that tests are deterministic; a process keeps one ``random.Random()``
    (seeded from the OS) — which node a client gets is not a secret, so no CSPRNG is needed.
    ``exclude`` holds nodes already tried in this request (their pool turned out exhausted).
    Returns ``None`` when no node fits; a single fitting node is returned as it is. Each node
    is in the random pair with probability 2/n, so no node gets much more than its share.
    """
    # The same test as accepts_peers, inlined: a function call per node would double the cost.
    eligible = [
        node
        for node in nodes
        if node.location == location
        and node.fresh
        and not node.draining
        and node.has_free_addresses
        and node.active_peers < node.capacity
    ]
    first = _draw(eligible, rng, exclude)
    if first is None:
        return None
    second = _draw(eligible, rng, exclude)
    if second is None:
        return first
    # A tie goes to the first draw, which is itself random.
    return second if load_score(second) < load_score(first) else first


def _draw(
    pool: list[NodeLoad], rng: random.Random, exclude: frozenset[uuid.UUID]
) -> NodeLoad | None:
    """Remove a uniformly random node from ``pool`` and return it, skipping excluded ones.

    Excluded nodes are dropped when drawn instead of filtered out beforehand: they are the few
    tried in this request, and a second pass over the fleet would double a retry's cost.
    Swapping the last node into the hole keeps the rest of the pool equally likely.
    """
    while pool:
        index = rng.randrange(len(pool))
        node = pool[index]
        pool[index] = pool[-1]
        pool.pop()
        if node.node_id not in exclude:
            return node
    return None
