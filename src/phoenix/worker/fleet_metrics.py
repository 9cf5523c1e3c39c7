"""Peers per serving node, per location, published to CloudWatch for the fleet's scaling.

The exit nodes' Auto Scaling groups (deploy/terraform/node-fleet) scale by target tracking on
this metric. The nodes themselves hold no AWS permission, so the worker publishes it from what
config's node listing already gives it (monitor credential): per location, the median active-peer
count of the ``active`` nodes that reported one. The median, not the mean: each count is what a
node says of itself in its heartbeat, and one hostile node reporting millions (or zero) must not
scale its location out to the maximum (or in to the minimum); it moves a median by one place.
An aggregate only: no node id, key or address leaves. A location with no such figure gets no
datapoint, so a silent fleet or config's lost Redis reads as missing data (target tracking then
does nothing), never as an empty fleet to scale in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from statistics import median
from typing import TYPE_CHECKING

from phoenix.worker.nodes import ConfigApi
from phoenix.worker.schemas import NodeSummary

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricDatumTypeDef

NAMESPACE = "Phoenix/Fleet"
METRIC = "PeersPerNode"
DIMENSION = "Location"
# PutMetricData takes at most 1,000 datapoints a call.
BATCH = 1000


def peers_per_node(nodes: Sequence[NodeSummary]) -> dict[str, float]:
    """Per location, the median active peers of its serving nodes with a fresh heartbeat."""
    counts: dict[str, list[int]] = defaultdict(list)
    for node in nodes:
        if node.status == "active" and node.active_peers is not None:
            counts[node.location].append(node.active_peers)
    return {location: float(median(peers)) for location, peers in sorted(counts.items())}


class FleetMetrics:
    def __init__(self, api: ConfigApi, cloudwatch: CloudWatchClient) -> None:
        self.api = api
        self.cloudwatch = cloudwatch

    def run(self) -> dict[str, float]:
        """Publish one datapoint per location; the figures published, by location."""
        figures = peers_per_node(self.api.nodes("active"))
        data: list[MetricDatumTypeDef] = [
            {
                "MetricName": METRIC,
                "Dimensions": [{"Name": DIMENSION, "Value": location}],
                "Value": value,
                "Unit": "Count",
            }
            for location, value in figures.items()
        ]
        for start in range(0, len(data), BATCH):
            self.cloudwatch.put_metric_data(
                Namespace=NAMESPACE, MetricData=data[start : start + BATCH]
            )
        return figures
