"""The fleet metric's figure: mean active peers of serving nodes that reported, per location."""

from __future__ import annotations

import uuid

from phoenix.worker.fleet_metrics import peers_per_node
from phoenix.worker.schemas import NodeStatus, NodeSummary


def node(location: str, peers: int | None, status: NodeStatus = "active") -> NodeSummary:
    return NodeSummary(uuid.uuid4(), location, status, None, "203.0.113.1", peers)


def test_the_figure_is_the_mean_over_serving_nodes_that_reported_a_count() -> None:
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
