"""The fleet metric against a real config role and moto's CloudWatch (over HTTP).

Target tracking in deploy/terraform/node-fleet follows what this job publishes; the names are
the module's constants, which tests/deploy/test_terraform.py holds equal to the Terraform's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest

from phoenix.worker.fleet_metrics import DIMENSION, METRIC, NAMESPACE, FleetMetrics
from phoenix.worker.nodes import ConfigApi
from tests.harness.nodes import enroll_sync
from tests.harness.processes import RoleServer
from tests.integration.config.conftest import (  # noqa: F401 - fixtures
    MONITOR_TOKEN,
    beat,
    config_server,
    config_settings,
)
from tests.integration.worker.conftest import AWS_REGION


@pytest.fixture
def api(config_server: RoleServer) -> Iterator[ConfigApi]:  # noqa: F811
    client = httpx.Client(timeout=10)
    yield ConfigApi(client, config_server.base_url, MONITOR_TOKEN)
    client.close()


def serving(server: RoleServer, location: str, address: str, peers: int | None) -> uuid.UUID:
    """An enrolled node, with one heartbeat reporting ``peers`` (None: never heard from)."""
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        node = enroll_sync(client, location=location, public_ip=address)
        if peers is not None:
            answer = client.post(
                f"/v1/nodes/{node.id}/heartbeat",
                json=beat(active_peers=peers, peers=peers),
                headers=node.auth,
            )
            assert answer.status_code == 200, answer.text
    return uuid.UUID(node.id)


def published(cloudwatch: Any, location: str) -> list[float]:
    now = datetime.now(UTC)
    answer = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=METRIC,
        Dimensions=[{"Name": DIMENSION, "Value": location}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(hours=1),
        Period=3600,
        Statistics=["Average", "SampleCount"],
    )
    return [point["Average"] for point in answer["Datapoints"]]


def test_peers_per_serving_node_are_published_per_location(
    config_server: RoleServer,  # noqa: F811
    api: ConfigApi,
    aws_env: dict[str, str],
) -> None:
    # Locations of this test's own: moto's CloudWatch outlives a test.
    fra, ams = f"de-f{uuid.uuid4().hex[:6]}", f"nl-a{uuid.uuid4().hex[:6]}"
    serving(config_server, fra, "203.0.114.30", 10)
    serving(config_server, fra, "203.0.114.31", 30)
    serving(config_server, fra, "203.0.114.32", None)  # no figure: not counted, not zero
    serving(config_server, ams, "203.0.114.33", 7)
    drained = serving(config_server, ams, "203.0.114.34", 100)
    api.drain(drained, "manual")  # leaving: its peers are not the location's load
    cloudwatch = boto3.client("cloudwatch", region_name=AWS_REGION)
    figures = FleetMetrics(api, cloudwatch).run()
    assert {k: v for k, v in figures.items() if k in (fra, ams)} == {fra: 20.0, ams: 7.0}
    assert published(cloudwatch, fra) == [20.0]
    assert published(cloudwatch, ams) == [7.0]
    metrics = cloudwatch.list_metrics(Namespace=NAMESPACE, MetricName=METRIC)["Metrics"]
    assert {"Name": DIMENSION, "Value": fra} in [d for m in metrics for d in m["Dimensions"]]
