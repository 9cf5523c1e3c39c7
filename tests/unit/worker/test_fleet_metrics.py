"""The fleet metric's figure: median active peers of serving nodes that reported, per location."""

from __future__ import annotations

import uuid

from phoenix.worker.fleet_metrics import peers_per_node
from phoenix.worker.schemas import NodeStatus, NodeSummary


def node(location: str, peers: int | None, status: NodeStatus = "active") -> NodeSummary:
    return NodeSummary(uuid.uuid4(), location, status, None, "203.0.113.1", peers)


def test_the_figure_is_the_median_over_serving_nodes_that_reported_a_count() -> None:
    nodes = [
        node("de-fra", 10),
        node("de-fra", 0),
        node("de-fra", None),  # silent: unknown, not an empty node
        node("de-fra", 500, "draining"),
        node("de-fra", 3, "pending"),
        node("nl-ams", 4),
    ]
    assert peers_per_node(nodes) == {"de-fra": 5.0, "nl-ams": 4.0}


def test_a_location_without_a_single_figure_publishes_nothing_rather_than_zero() -> None:
    # Zero would tell target tracking to scale in; no data makes it wait.
    assert peers_per_node([node("de-fra", None), node("nl-ams", 9, "lost")]) == {}


def test_one_hostile_node_cannot_drag_its_locations_figure_out_or_in() -> None:
    # Counts are self-reported in heartbeats: a liar moves a median by one place, not to its value.
    honest = [node("de-fra", 10), node("de-fra", 11), node("de-fra", 12)]
    assert peers_per_node([*honest, node("de-fra", 10_000_000)]) == {"de-fra": 11.5}
    assert peers_per_node([*honest, node("de-fra", 0)]) == {"de-fra": 10.5}
