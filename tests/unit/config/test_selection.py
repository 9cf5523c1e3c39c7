"""Node selection: only nodes that can take a peer, lighter ones more often, no herding."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix.config.selection import NodeLoad, accepts_peers, load_score, select_node

LOCATION = "de-fra"


def node(number: int = 0, **changes: Any) -> NodeLoad:
    """A healthy, half-loaded node of LOCATION; ``changes`` override single fields."""
    fields: dict[str, Any] = {
        "node_id": uuid.UUID(int=number),
        "location": LOCATION,
        "capacity": 100,
        "active_peers": 50,
        "cpu": 0.5,
        "load1": 1.0,
        "draining": False,
        "fresh": True,
        "has_free_addresses": True,
    }
    fields.update(changes)
    return NodeLoad(**fields)


@pytest.mark.parametrize(
    ("unfit", "why"),
    [
        (node(1, draining=True), "draining"),
        (node(1, fresh=False), "stale heartbeat"),
        (node(1, has_free_addresses=False), "address pool exhausted"),
        (node(1, active_peers=100), "at capacity"),
        (node(1, active_peers=120), "over capacity"),
        (node(1, capacity=0, active_peers=0), "capacity 0"),
        (node(1, location="nl-ams"), "another location"),
    ],
)
def test_a_node_that_cannot_take_a_peer_is_never_picked(unfit: NodeLoad, why: str) -> None:
    assert not accepts_peers(unfit, LOCATION), why
    # Alone it gives no capacity; next to a heavily loaded fit node it still loses every time.
    assert select_node([unfit], LOCATION, rng=random.Random(1)) is None
    heavy = node(2, active_peers=99, cpu=1.0, load1=40.0)
    rng = random.Random(1)
    assert all(select_node([unfit, heavy], LOCATION, rng=rng) is heavy for _ in range(200))


def test_no_node_at_all_gives_none() -> None:
    assert select_node([], LOCATION, rng=random.Random(1)) is None


def test_an_unknown_location_gives_none() -> None:
    assert select_node([node(1), node(2)], "xx-nowhere", rng=random.Random(1)) is None


def test_a_single_fit_node_is_picked() -> None:
    only = node(1)
    assert select_node([only], LOCATION, rng=random.Random(1)) is only


def test_excluded_nodes_are_skipped_so_the_caller_can_retry_elsewhere() -> None:
    light, heavy = node(1, active_peers=0, cpu=0.0), node(2, active_peers=90, cpu=0.9)
    rng = random.Random(1)
    assert select_node([light, heavy], LOCATION, rng=rng) is light
    assert select_node([light, heavy], LOCATION, rng=rng, exclude=frozenset({light.node_id})) is (
        heavy
    )
    both = frozenset({light.node_id, heavy.node_id})
    assert select_node([light, heavy], LOCATION, rng=rng, exclude=both) is None


def test_of_two_nodes_with_very_different_load_the_lighter_is_chosen_much_more_often() -> None:
    light = node(1, active_peers=5, cpu=0.05, load1=0.1)
    heavy = node(2, active_peers=90, cpu=0.9, load1=6.0)
    rng = random.Random(7)
    picks = Counter(select_node([heavy, light], LOCATION, rng=rng) for _ in range(1000))
    assert picks[light] >= 10 * picks[heavy]


def test_the_lighter_half_of_a_fleet_gets_most_picks() -> None:
    fleet = [node(i, active_peers=i, cpu=i / 100) for i in range(100)]
    rng = random.Random(11)
    picks = Counter(select_node(fleet, LOCATION, rng=rng) for _ in range(10_000))
    lighter = sum(
        count for chosen, count in picks.items() if chosen is not None and chosen in fleet[:50]
    )
    # Power of two choices: node i (0-based, by load) wins with probability 2(n-1-i)/(n(n-1)),
    # so the lighter half gets 3/4 of the picks (minus 1/(2n) from the distinct draws).
    assert 0.70 * 10_000 <= lighter <= 0.80 * 10_000


def test_a_burst_on_equal_nodes_spreads_over_the_fleet() -> None:
    fleet = [node(i) for i in range(100)]
    rng = random.Random(3)
    picks = Counter(select_node(fleet, LOCATION, rng=rng) for _ in range(1000))
    mean = 1000 / len(fleet)
    assert len(picks) >= 90
    assert max(picks.values()) <= 3 * mean


def test_a_burst_does_not_herd_onto_the_least_loaded_node() -> None:
    # Same (stale) snapshot for every connect of the burst, all loads distinct: "the least-
    # loaded node" would get all 1000; with two choices it gets about 2/n of them.
    fleet = [node(i, active_peers=i % 100, cpu=(i % 100) / 100) for i in range(100)]
    rng = random.Random(5)
    picks = Counter(select_node(fleet, LOCATION, rng=rng) for _ in range(1000))
    mean = 1000 / len(fleet)
    assert picks[fleet[0]] <= 4 * mean  # expected: 2 * mean
    assert max(picks.values()) <= 4 * mean


def test_the_same_seed_gives_the_same_picks() -> None:
    fleet = [node(i, active_peers=i % 37, cpu=(i % 11) / 10) for i in range(500)]

    def picks(seed: int) -> list[uuid.UUID]:
        rng = random.Random(seed)
        chosen = [select_node(fleet, LOCATION, rng=rng) for _ in range(200)]
        return [c.node_id for c in chosen if c is not None]

    assert picks(42) == picks(42)
    assert picks(42) != picks(43)


@pytest.mark.parametrize(
    ("lighter", "heavier"),
    [
        (node(active_peers=10), node(active_peers=60)),
        (node(cpu=0.1), node(cpu=0.9)),
        (node(load1=0.2), node(load1=8.0)),
        (node(capacity=1000, active_peers=100), node(capacity=100, active_peers=50)),
    ],
)
def test_the_score_rises_with_each_load_signal(lighter: NodeLoad, heavier: NodeLoad) -> None:
    assert load_score(lighter) < load_score(heavier)


def test_an_idle_node_scores_zero_and_a_fit_node_below_one() -> None:
    assert load_score(node(active_peers=0, cpu=0.0, load1=0.0)) == 0.0
    assert load_score(node(active_peers=99, cpu=1.0, load1=1e9)) < 1.0


@pytest.mark.parametrize(
    "changes",
    [
        {"cpu": 55.0},
        {"cpu": -0.1},
        {"load1": -1.0},
        {"load1": float("nan")},
        {"capacity": -1},
        {"active_peers": -1},
    ],
)
def test_out_of_range_loads_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"."):
        node(**changes)


nodes_strategy = st.builds(
    NodeLoad,
    node_id=st.uuids(),
    location=st.sampled_from([LOCATION, "nl-ams", "us-nyc"]),
    capacity=st.integers(0, 200),
    active_peers=st.integers(0, 250),
    cpu=st.floats(0.0, 1.0),
    load1=st.floats(0.0, 64.0),
    draining=st.booleans(),
    fresh=st.booleans(),
    has_free_addresses=st.booleans(),
)


@given(
    fleet=st.lists(nodes_strategy, max_size=30),
    seed=st.integers(0, 2**32),
    excluded=st.sets(st.integers(0, 29), max_size=5),
)
def test_the_pick_is_always_a_fit_node_and_none_only_when_there_is_none(
    fleet: list[NodeLoad], seed: int, excluded: set[int]
) -> None:
    exclude = frozenset(fleet[i].node_id for i in excluded if i < len(fleet))
    fit = [n for n in fleet if accepts_peers(n, LOCATION) and n.node_id not in exclude]
    chosen = select_node(fleet, LOCATION, rng=random.Random(seed), exclude=exclude)
    if not fit:
        assert chosen is None
    else:
        assert chosen is not None
        assert chosen in fit
        assert chosen.node_id not in exclude
        # The lighter of two: some other fit node weighs at least as much as the pick.
        at_least_as_heavy = [n for n in fit if load_score(n) >= load_score(chosen)]
        assert len(fit) == 1 or len(at_least_as_heavy) >= 2


@given(fleet=st.lists(nodes_strategy, max_size=30), seed=st.integers(0, 2**32))
def test_selection_is_a_function_of_the_seed(fleet: list[NodeLoad], seed: int) -> None:
    first = select_node(fleet, LOCATION, rng=random.Random(seed))
    assert select_node(fleet, LOCATION, rng=random.Random(seed)) == first
