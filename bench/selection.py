"""Node selection over 10,000 nodes, in process: p99 <= 2 ms (issue 6, an absolute goal).

The fleet is the worst case for ``select_node``: all 10,000 nodes are of the requested location
(``/v1/connect`` already narrows the candidates to the location, so this is also the shape it
passes), so every node goes through the whole filter. 5 % are draining, 3 % stale and 2 % out of
addresses; loads are random. Each call is timed on its own (``perf_counter_ns``) with the
garbage collector left on, as in the server. Besides the p99 (the goal) the report carries the
p50 and the p99 of the retry path (one node excluded after its pool turned out exhausted), both
informational. There is no anchor: the goal is a latency budget, not a ratio.
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Final

from bench.report import Goal, Result
from phoenix.config.selection import NodeLoad, select_node

NODES: Final = 10_000
LOCATION: Final = "de-fra"
WARMUP_CALLS: Final = 200
CALLS: Final = 5_000
SEED: Final = 20_240_601
P99_GOAL: Final = Goal.value_at_most(2.0, "ms")


def fleet(count: int, rng: random.Random) -> list[NodeLoad]:
    """``count`` nodes of LOCATION with random loads and a few unfit ones."""
    nodes = []
    for _ in range(count):
        capacity = rng.choice((250, 500, 1000))
        roll = rng.random()
        nodes.append(
            NodeLoad(
                node_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                location=LOCATION,
                capacity=capacity,
                active_peers=rng.randrange(capacity),
                cpu=rng.random(),
                load1=rng.uniform(0.0, 8.0),
                draining=roll < 0.05,
                fresh=not 0.05 <= roll < 0.08,
                has_free_addresses=not 0.08 <= roll < 0.10,
            )
        )
    return nodes


def latencies_ms(call: Callable[[], object], calls: int) -> list[float]:
    """Each call's wall time, in ms, sorted; after a warm-up."""
    for _ in range(WARMUP_CALLS):
        call()
    timings = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        call()
        timings.append((time.perf_counter_ns() - started) / 1e6)
    timings.sort()
    return timings


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (the value at or below which ``fraction`` of them lie)."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _note(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def run() -> list[Result]:
    nodes = fleet(NODES, random.Random(SEED))
    rng = random.Random(SEED + 1)
    if select_node(nodes, LOCATION, rng=rng) is None:
        raise RuntimeError("the benchmark fleet has no fit node")
    fresh = latencies_ms(lambda: select_node(nodes, LOCATION, rng=rng), CALLS)
    excluded = frozenset({nodes[0].node_id})
    retry = latencies_ms(lambda: select_node(nodes, LOCATION, rng=rng, exclude=excluded), CALLS)
    p50, p99, retry_p99 = percentile(fresh, 0.50), percentile(fresh, 0.99), percentile(retry, 0.99)
    _note(
        f"{NODES:,} nodes, {CALLS:,} calls: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max "
        f"{fresh[-1]:.3f} ms; retry p99 {retry_p99:.3f} ms; load average {os.getloadavg()[0]:.2f}"
    )
    return [
        Result(
            figure=f"selection: select_node over {NODES:,} nodes, p99",
            value=round(p99, 4),
            unit="ms",
            goal=P99_GOAL,
        ),
        Result(
            figure=f"selection: select_node over {NODES:,} nodes, p50",
            value=round(p50, 4),
            unit="ms",
        ),
        Result(
            figure=f"selection: select_node over {NODES:,} nodes, 1 excluded (retry), p99",
            value=round(retry_p99, 4),
            unit="ms",
        ),
    ]
