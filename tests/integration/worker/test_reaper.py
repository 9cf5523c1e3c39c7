"""The reaper against a real config role (Postgres + Redis), with the local and the AWS provider.

The config role runs as a `phoenix serve` process; the worker reaches it only over HTTP with the
monitor credential, as in production. AWS Auto Scaling is moto's server.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from phoenix.worker.nodes import ConfigApi
from phoenix.worker.reaper import AwsProvider, LocalProvider, ProviderError, Reaper
from tests.harness.processes import RoleServer
from tests.integration.config.conftest import (  # noqa: F401 - fixtures
    MONITOR_TOKEN,
    NODE_TOKEN,
    beat,
    config_server,
    config_settings,
    node_body,
)
from tests.integration.worker.conftest import AWS_REGION


class Node:
    def __init__(self, server: RoleServer, public_ip: str) -> None:
        answer = httpx.post(
            server.base_url + "/v1/nodes/register",
            json=node_body(public_ip=public_ip),
            headers={"Authorization": f"Bearer {NODE_TOKEN}"},
        )
        assert answer.status_code == 201, answer.text
        self.server = server
        self.id = uuid.UUID(answer.json()["node_id"])
        self.credential = answer.json()["node_credential"]

    def heartbeat(self, active_peers: int = 0) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.server.base_url}/v1/nodes/{self.id}/heartbeat",
            json=beat(active_peers=active_peers, peers=active_peers),
            headers={"Authorization": f"Bearer {self.credential}"},
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def drain(self, reason: str = "blocked") -> None:
        answer = httpx.post(
            self.server.base_url + "/node/drain",
            json={"id": str(self.id), "reason": reason},
            headers={"Authorization": f"Bearer {MONITOR_TOKEN}"},
        )
        assert answer.status_code == 200, answer.text

    def drain_fully(self, reason: str = "blocked") -> None:
        """Drain, then three empty heartbeats: config reports the node as drained."""
        self.drain(reason)
        for _ in range(3):
            self.heartbeat(active_peers=0)
        assert self.status() == "drained"

    def status(self) -> str:
        nodes = ConfigApi(httpx.Client(), self.server.base_url, MONITOR_TOKEN)
        return next(
            n.status
            for s in ("active", "draining", "drained", "terminated")
            for n in nodes.nodes(s)
            if n.id == self.id
        )  # type: ignore[arg-type]


@pytest.fixture
def api(config_server: RoleServer) -> Iterator[ConfigApi]:  # noqa: F811
    client = httpx.Client(timeout=10)
    yield ConfigApi(client, config_server.base_url, MONITOR_TOKEN)
    client.close()


@pytest.fixture
def dev_node(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    directory = tmp_path / "nodes"
    directory.mkdir()
    process = subprocess.Popen(["sleep", "300"])
    (directory / "198.51.100.7.pid").write_text(str(process.pid))
    yield process, directory
    if process.poll() is None:
        process.kill()
        process.wait()


def test_a_drained_node_is_stopped_then_recorded_terminated_and_a_rerun_does_nothing(
    config_server: RoleServer,  # noqa: F811
    api: ConfigApi,
    dev_node: tuple[subprocess.Popen[bytes], Path],
) -> None:
    process, directory = dev_node
    node = Node(config_server, "198.51.100.7")
    reaper = Reaper(api, LocalProvider(directory), max_age_hours=0)
    node.drain("compromised")
    node.heartbeat(active_peers=2)
    # Draining with peers still on it: nothing may be cut.
    assert reaper.run().terminated == 0
    assert process.poll() is None
    for _ in range(3):
        node.heartbeat(active_peers=0)
    assert node.status() == "drained"
    assert reaper.run().terminated == 1
    assert process.wait(5) is not None
    assert node.status() == "terminated"
    assert reaper.run().terminated == 0


def test_an_active_node_is_never_terminated_even_when_old(
    config_server: RoleServer,  # noqa: F811
    api: ConfigApi,
    dev_node: tuple[subprocess.Popen[bytes], Path],
) -> None:
    process, directory = dev_node
    node = Node(config_server, "198.51.100.7")
    node.heartbeat(active_peers=5)
    reaper = Reaper(api, LocalProvider(directory), max_age_hours=24)
    report = reaper.run(now=datetime.now(UTC) + timedelta(hours=25))
    # Retirement only starts a drain, with reason `retired`; the process keeps serving.
    assert (report.terminated, report.retired) == (0, 1)
    assert process.poll() is None
    assert node.status() == "draining"
    assert node.heartbeat(active_peers=5)["drain"] is True
    listed = [n for n in api.nodes("draining") if n.id == node.id]
    assert listed[0].drain_reason == "retired"
    # Young nodes stay; a second run retires nothing new (the node is no longer active).
    assert reaper.run(now=datetime.now(UTC) + timedelta(hours=25)).retired == 0


@pytest.fixture
def autoscaling(aws_env: dict[str, str]) -> tuple[Any, Any, str]:
    ec2 = boto3.client("ec2", region_name=AWS_REGION)
    asg = boto3.client("autoscaling", region_name=AWS_REGION)
    group = f"exit-nodes-{uuid.uuid4().hex[:8]}"
    image = ec2.describe_images()["Images"][0]["ImageId"]
    asg.create_launch_configuration(
        LaunchConfigurationName=group, ImageId=image, InstanceType="t3.micro"
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName=group,
        LaunchConfigurationName=group,
        MinSize=1,
        MaxSize=2,
        DesiredCapacity=1,
        AvailabilityZones=[f"{AWS_REGION}a"],
    )
    return ec2, asg, group


def instance_of(ec2: Any, instance_id: str) -> dict[str, Any]:
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    result: dict[str, Any] = reservations[0]["Instances"][0]
    return result


def test_the_aws_provider_terminates_the_instance_in_its_group_then_config_records_it(
    config_server: RoleServer,  # noqa: F811
    api: ConfigApi,
    autoscaling: tuple[Any, Any, str],
) -> None:
    ec2, asg, group = autoscaling
    instance_id = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
        "AutoScalingGroups"
    ][0]["Instances"][0]["InstanceId"]
    public_ip = instance_of(ec2, instance_id)["PublicIpAddress"]
    node = Node(config_server, public_ip)
    node.drain_fully("blocked")
    reaper = Reaper(api, AwsProvider(asg, ec2, [group]), max_age_hours=0)
    assert reaper.run().terminated == 1
    assert instance_of(ec2, instance_id)["State"]["Name"] in ("shutting-down", "terminated")
    assert node.status() == "terminated"
    assert reaper.run().terminated == 0


def test_an_instance_outside_the_managed_groups_is_not_terminated_nor_recorded(
    config_server: RoleServer,  # noqa: F811
    api: ConfigApi,
    autoscaling: tuple[Any, Any, str],
) -> None:
    ec2, asg, group = autoscaling
    image = ec2.describe_images()["Images"][0]["ImageId"]
    stray = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    public_ip = instance_of(ec2, stray["InstanceId"])["PublicIpAddress"]
    node = Node(config_server, public_ip)
    node.drain_fully("blocked")
    reaper = Reaper(api, AwsProvider(asg, ec2, [group]), max_age_hours=0)
    with pytest.raises(ProviderError):
        reaper.run()
    assert instance_of(ec2, stray["InstanceId"])["State"]["Name"] == "running"
    assert node.status() == "drained"


def test_a_config_role_that_fails_leaves_the_node_drained_for_the_next_run(
    config_server: RoleServer,  # noqa: F811
    dev_node: tuple[subprocess.Popen[bytes], Path],
) -> None:
    _, directory = dev_node
    node = Node(config_server, "198.51.100.7")
    node.drain_fully("blocked")
    wrong = ConfigApi(httpx.Client(), config_server.base_url, "not-the-monitor-token-" + "x" * 20)
    with pytest.raises(httpx.HTTPStatusError):
        Reaper(wrong, LocalProvider(directory), 0).run()
    assert node.status() == "drained"
