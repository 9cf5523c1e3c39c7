"""The reaper against a real config role (Postgres + Redis), with the local and the AWS provider.

The config role runs as a `phoenix serve` process; the worker reaches it only over HTTP with the
monitor credential, as in production. Nodes enroll with single-use enrollment keys. AWS (EC2 and
Auto Scaling) is moto's server, with the terminating lifecycle hook's calls that moto lacks added
to it (moto_lifecycle.py).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import psycopg
import pytest
from structlog.testing import capture_logs

from phoenix.config.settings import ConfigSettings
from phoenix.worker.nodes import ConfigApi
from phoenix.worker.reaper import (
    DRAIN_HOOK,
    NODE_TAG,
    AwsProvider,
    Leaving,
    LocalProvider,
    ProviderError,
    Reaper,
)
from phoenix.worker.schemas import NodeStatus
from tests.harness.nodes import enroll_sync
from tests.harness.processes import RoleServer
from tests.integration.config.conftest import (  # noqa: F401 - fixtures
    MONITOR_TOKEN,
    beat,
    config_server,
    config_settings,
)
from tests.integration.worker.conftest import AWS_REGION
from tests.integration.worker.moto_lifecycle import Lifecycle

STATUSES: tuple[NodeStatus, ...] = (
    "pending",
    "active",
    "lost",
    "draining",
    "drained",
    "terminated",
)
DEV_NODE_IP = "203.0.114.10"


class Node:
    def __init__(self, server: RoleServer, public_ip: str) -> None:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            enrolled = enroll_sync(client, location="de-fra", public_ip=public_ip)
        self.server = server
        self.id = uuid.UUID(enrolled.id)
        self.auth = enrolled.auth

    def heartbeat(self, active_peers: int = 0) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.server.base_url}/v1/nodes/{self.id}/heartbeat",
            json=beat(active_peers=active_peers, peers=active_peers),
            headers=self.auth,
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
        return next(n.status for s in STATUSES for n in nodes.nodes(s) if n.id == self.id)


def attest(settings: ConfigSettings, node: Node, instance_id: str) -> None:
    """Record the node's EC2 instance id in NodeDB.

    This stands in for the attested registration (a signed AWS instance identity document),
    the only way config sets it; the config tests cover that registration.
    """
    with psycopg.connect(settings.nodedb_url) as connection:
        connection.execute(
            "UPDATE nodes SET instance_id = %s WHERE id = %s", (instance_id, node.id)
        )


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
    (directory / f"{DEV_NODE_IP}.pid").write_text(str(process.pid))
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
    node = Node(config_server, DEV_NODE_IP)
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
    node = Node(config_server, DEV_NODE_IP)
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


def test_a_config_role_that_fails_leaves_the_node_drained_for_the_next_run(
    config_server: RoleServer,  # noqa: F811
    dev_node: tuple[subprocess.Popen[bytes], Path],
) -> None:
    _, directory = dev_node
    node = Node(config_server, DEV_NODE_IP)
    node.drain_fully("blocked")
    wrong = ConfigApi(httpx.Client(), config_server.base_url, "not-the-monitor-token-" + "x" * 20)
    with pytest.raises(httpx.HTTPStatusError):
        Reaper(wrong, LocalProvider(directory), 0).run()
    assert node.status() == "drained"


# --- AWS ------------------------------------------------------------------------------------


class Aws:
    """moto's EC2 and Auto Scaling, and Auto Scaling groups of a test's own."""

    def __init__(self) -> None:
        self.ec2: Any = boto3.client("ec2", region_name=AWS_REGION)
        self.asg: Any = boto3.client("autoscaling", region_name=AWS_REGION)
        self.image = self.ec2.describe_images()["Images"][0]["ImageId"]

    def group(self, size: int = 1) -> tuple[str, list[str]]:
        """A new Auto Scaling group of ``size`` instances: its name and their ids."""
        name = f"exit-nodes-{uuid.uuid4().hex[:8]}"
        self.asg.create_launch_configuration(
            LaunchConfigurationName=name, ImageId=self.image, InstanceType="t3.micro"
        )
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchConfigurationName=name,
            MinSize=size,
            MaxSize=size + 1,
            DesiredCapacity=size,
            AvailabilityZones=[f"{AWS_REGION}a"],
        )
        group = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        return name, [i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"]]

    def stray(self) -> str:
        """An instance in no Auto Scaling group."""
        run = self.ec2.run_instances(ImageId=self.image, MinCount=1, MaxCount=1)
        instance_id: str = run["Instances"][0]["InstanceId"]
        return instance_id

    def state(self, instance_id: str) -> str:
        state: str = self.instance(instance_id)["State"]["Name"]
        return state

    def tag(self, instance_id: str) -> str | None:
        tags = self.instance(instance_id).get("Tags", [])
        return next((t["Value"] for t in tags if t["Key"] == NODE_TAG), None)

    def set_tag(self, instance_id: str, value: str) -> None:
        self.ec2.create_tags(Resources=[instance_id], Tags=[{"Key": NODE_TAG, "Value": value}])

    def instance(self, instance_id: str) -> dict[str, Any]:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        result: dict[str, Any] = reservations[0]["Instances"][0]
        return result


@pytest.fixture
def aws(aws_env: dict[str, str]) -> Aws:
    return Aws()


def events(lines: list[MutableMapping[str, Any]], name: str) -> list[dict[str, Any]]:
    """The reaper's lines of that event, whole but for the logger's name."""
    return [
        {k: v for k, v in line.items() if k != "logger_name"}
        for line in lines
        if line["event"] == name and line.get("logger_name") == "phoenix.worker.reaper"
    ]


def test_a_drained_attested_node_in_a_named_group_is_adopted_then_terminated_and_recorded(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    api: ConfigApi,
    aws: Aws,
) -> None:
    group, (instance_id,) = aws.group()
    node = Node(config_server, "203.0.114.11")
    attest(config_settings, node, instance_id)
    reaper = Reaper(api, AwsProvider(aws.asg, aws.ec2, [group]), max_age_hours=0)
    # While it serves, the reaper marks the instance as the node's.
    assert reaper.run().adopted == 1
    assert aws.tag(instance_id) == str(node.id)
    node.drain_fully("blocked")
    report = reaper.run()
    assert (report.terminated, report.unattested) == (1, 0)
    assert aws.state(instance_id) in ("shutting-down", "terminated")
    assert node.status() == "terminated"
    # Gone already: nothing left to do, nothing recorded twice.
    assert reaper.run().terminated == 0


def test_a_drained_node_without_an_instance_id_is_left_drained_for_an_operator(
    config_server: RoleServer,  # noqa: F811
    api: ConfigApi,
    aws: Aws,
) -> None:
    group, (instance_id,) = aws.group()
    # Enrolled by key, at the instance's very address: still never looked up by it.
    address = aws.instance(instance_id)["PublicIpAddress"]
    node = Node(config_server, address)
    node.drain_fully("blocked")
    reaper = Reaper(api, AwsProvider(aws.asg, aws.ec2, [group]), max_age_hours=0)
    with capture_logs() as lines:
        report = reaper.run()
    assert (report.terminated, report.unattested) == (0, 1)
    assert events(lines, "reaper_not_attested") == [
        {"event": "reaper_not_attested", "node": str(node.id), "log_level": "warning"}
    ]
    assert aws.state(instance_id) == "running"
    assert node.status() == "drained"


@pytest.mark.parametrize("where", ["another group", "no group"])
def test_an_instance_outside_the_named_groups_is_not_terminated_nor_recorded(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    api: ConfigApi,
    aws: Aws,
    where: str,
) -> None:
    named, _ = aws.group()
    instance_id = aws.group()[1][0] if where == "another group" else aws.stray()
    node = Node(config_server, "203.0.114.12")
    attest(config_settings, node, instance_id)
    aws.set_tag(instance_id, str(node.id))  # only the group is wrong
    node.drain_fully("blocked")
    reaper = Reaper(api, AwsProvider(aws.asg, aws.ec2, [named]), max_age_hours=0)
    with pytest.raises(ProviderError, match="no named Auto Scaling group"):
        reaper.run()
    assert aws.state(instance_id) == "running"
    assert node.status() == "drained"


@pytest.mark.parametrize("tagged", ["another node", "untagged"])
def test_an_instance_not_tagged_with_the_node_id_is_not_terminated_nor_recorded(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    api: ConfigApi,
    aws: Aws,
    tagged: str,
) -> None:
    group, (instance_id,) = aws.group()
    node = Node(config_server, "203.0.114.13")
    attest(config_settings, node, instance_id)
    if tagged == "another node":
        aws.set_tag(instance_id, str(uuid.uuid4()))
    # Drained before any run adopted it: only draining nodes' instances are never tagged.
    node.drain_fully("blocked")
    reaper = Reaper(api, AwsProvider(aws.asg, aws.ec2, [group]), max_age_hours=0)
    with pytest.raises(ProviderError, match="not node"):
        reaper.run()
    assert aws.state(instance_id) == "running"
    assert node.status() == "drained"


def test_adoption_tags_untagged_instances_of_serving_nodes_and_never_overwrites_a_tag(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    api: ConfigApi,
    aws: Aws,
) -> None:
    group, (fresh, claimed) = aws.group(size=2)
    _, (elsewhere,) = aws.group()
    serving = Node(config_server, "203.0.114.14")
    attest(config_settings, serving, fresh)
    mistaken = Node(config_server, "203.0.114.15")
    attest(config_settings, mistaken, claimed)
    other_node = str(uuid.uuid4())
    aws.set_tag(claimed, other_node)
    outside = Node(config_server, "203.0.114.16")
    attest(config_settings, outside, elsewhere)
    unattested = Node(config_server, "203.0.114.17")
    reaper = Reaper(api, AwsProvider(aws.asg, aws.ec2, [group]), max_age_hours=0)
    with capture_logs() as lines:
        report = reaper.run()
    assert report.adopted == 1
    assert aws.tag(fresh) == str(serving.id)
    assert aws.tag(claimed) == other_node
    assert events(lines, "reaper_tag_mismatch") == [
        {
            "event": "reaper_tag_mismatch",
            "node": str(mistaken.id),
            "instance": claimed,
            "tagged": other_node,
            "log_level": "warning",
        }
    ]
    assert aws.tag(elsewhere) is None  # outside the named groups: not ours to mark
    # Adopting changes nothing in config, and a second run nothing in AWS.
    assert {n.status() for n in (serving, mistaken, outside, unattested)} == {"active"}
    assert reaper.run().adopted == 0
    assert aws.tag(claimed) == other_node


@pytest.mark.parametrize("gone", ["terminated", "never there"])
def test_an_instance_already_gone_leaves_nothing_to_do_and_the_node_is_recorded_terminated(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    api: ConfigApi,
    aws: Aws,
    gone: str,
) -> None:
    group, (instance_id,) = aws.group()
    if gone == "terminated":
        aws.ec2.terminate_instances(InstanceIds=[instance_id])
    else:
        instance_id = "i-0123456789abcdef0"
    node = Node(config_server, "203.0.114.19")
    attest(config_settings, node, instance_id)
    node.drain_fully("blocked")
    reaper = Reaper(api, AwsProvider(aws.asg, aws.ec2, [group]), max_age_hours=0)
    assert reaper.run().terminated == 1
    assert node.status() == "terminated"


def test_retirement_reads_the_launch_time_by_instance_id(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    api: ConfigApi,
    aws: Aws,
) -> None:
    group, (instance_id,) = aws.group()
    old = Node(config_server, "203.0.114.18")
    attest(config_settings, old, instance_id)
    unattested = Node(config_server, aws.instance(instance_id)["PublicIpAddress"])
    reaper = Reaper(api, AwsProvider(aws.asg, aws.ec2, [group]), max_age_hours=24)
    assert reaper.run(now=datetime.now(UTC) + timedelta(hours=25)).retired == 1
    assert old.status() == "draining"
    assert unattested.status() == "active"  # no instance id: no launch time, never retired


# --- Scale-in: the drain hook ----------------------------------------------------------------
#
# moto keeps lifecycle hooks but has no CompleteLifecycleAction, no
# RecordLifecycleActionHeartbeat and no Terminating:Wait; tests/integration/worker/
# moto_lifecycle.py adds them to moto's server with AWS's documented behaviour. The hook's own
# heartbeat timeout is not emulated (it is AWS's, and the Terraform test checks its setting).


@pytest.fixture
def lifecycle(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Lifecycle:
    recorder = Lifecycle(AWS_REGION)
    recorder.install(monkeypatch)
    return recorder


def hooked_group(aws: Aws, size: int = 1, hook: str = DRAIN_HOOK) -> tuple[str, list[str]]:
    """A group with the fleet's terminating hook, as deploy/terraform/node-fleet makes it."""
    name, instances = aws.group(size)
    aws.asg.put_lifecycle_hook(
        LifecycleHookName=hook,
        AutoScalingGroupName=name,
        LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
        HeartbeatTimeout=900,
        DefaultResult="CONTINUE",
    )
    return name, instances


def test_a_scaled_in_node_is_drained_and_held_then_its_instance_let_go_once_drained(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    api: ConfigApi,
    aws: Aws,
    lifecycle: Lifecycle,
) -> None:
    group, (instance_id,) = hooked_group(aws)
    node = Node(config_server, "203.0.114.20")
    attest(config_settings, node, instance_id)
    node.heartbeat(active_peers=2)
    reaper = Reaper(api, AwsProvider(aws.asg, aws.ec2, [group]), max_age_hours=0)
    assert reaper.run().adopted == 1
    lifecycle.scale_in(group, instance_id)
    # The group waits; the reaper starts the drain (reason `retired`) and asks for time.
    report = reaper.run()
    assert (report.scaling_in, report.terminated, report.released) == (1, 0, 0)
    assert node.status() == "draining"
    assert [n.drain_reason for n in api.nodes("draining") if n.id == node.id] == ["retired"]
    assert lifecycle.heartbeats[instance_id] == 1
    assert lifecycle.state(group, instance_id) == "Terminating:Wait"
    assert aws.state(instance_id) == "running"
    # Peers still on it: held again, never cut. Two empty heartbeats, then a run: a second
    # drain would restart config's count of three, so the third empty one must finish it.
    node.heartbeat(active_peers=1)
    assert reaper.run().scaling_in == 1
    node.heartbeat(active_peers=0)
    node.heartbeat(active_peers=0)
    assert reaper.run().terminated == 0
    assert lifecycle.heartbeats[instance_id] == 3
    node.heartbeat(active_peers=0)
    assert node.status() == "drained"
    # Drained: the action completes (CONTINUE) where the reaper would otherwise terminate.
    report = reaper.run()
    assert (report.terminated, report.scaling_in) == (1, 1)
    assert lifecycle.completed == {instance_id: "CONTINUE"}
    assert aws.state(instance_id) in ("shutting-down", "terminated")
    assert node.status() == "terminated"
    # Nothing waits any more: a rerun does nothing.
    report = reaper.run()
    assert (report.terminated, report.scaling_in, report.released) == (0, 0, 0)


def test_a_scaled_in_instance_with_no_node_is_let_go_at_once(
    api: ConfigApi, aws: Aws, lifecycle: Lifecycle
) -> None:
    group, (booting, serving) = hooked_group(aws, size=2)
    lifecycle.scale_in(group, booting)  # e.g. never enrolled: nothing serves there
    report = Reaper(api, AwsProvider(aws.asg, aws.ec2, [group]), max_age_hours=0).run()
    assert (report.released, report.scaling_in) == (1, 0)
    assert lifecycle.completed == {booting: "CONTINUE"}
    assert aws.state(booting) in ("shutting-down", "terminated")
    assert aws.state(serving) == "running"


def test_a_silent_scaled_in_node_is_drained_but_given_no_more_time(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    api: ConfigApi,
    aws: Aws,
    lifecycle: Lifecycle,
) -> None:
    group, (instance_id,) = hooked_group(aws)
    node = Node(config_server, "203.0.114.21")  # enrolled, never heard from since
    attest(config_settings, node, instance_id)
    lifecycle.scale_in(group, instance_id)
    reaper = Reaper(api, AwsProvider(aws.asg, aws.ec2, [group]), max_age_hours=0)
    with capture_logs() as lines:
        assert reaper.run().scaling_in == 1
    # It cannot drain without heartbeats: the hook's timeout (CONTINUE) lets it go.
    assert lifecycle.heartbeats[instance_id] == 0
    assert events(lines, "scale_in_node_silent") == [
        {"event": "scale_in_node_silent", "node": str(node.id), "log_level": "warning"}
    ]
    assert node.status() == "draining"  # should it speak again, it drains


def test_a_node_the_reaper_terminates_in_a_hooked_group_is_let_go_on_the_next_run(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    api: ConfigApi,
    aws: Aws,
    lifecycle: Lifecycle,
) -> None:
    group, (instance_id,) = hooked_group(aws)
    node = Node(config_server, "203.0.114.22")
    attest(config_settings, node, instance_id)
    reaper = Reaper(api, AwsProvider(aws.asg, aws.ec2, [group]), max_age_hours=0)
    reaper.run()  # adopts it
    node.drain_fully("blocked")
    # The termination passes through the group's own hook: waiting, but recorded terminated.
    assert reaper.run().terminated == 1
    assert node.status() == "terminated"
    assert lifecycle.state(group, instance_id) == "Terminating:Wait"
    # Its node is gone from config: nothing to wait for.
    report = reaper.run()
    assert (report.released, report.terminated) == (1, 0)
    assert lifecycle.completed == {instance_id: "CONTINUE"}


def test_a_lifecycle_call_refused_while_the_instance_waits_fails_and_leaves_the_node_drained(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    api: ConfigApi,
    aws: Aws,
    lifecycle: Lifecycle,
) -> None:
    group, (instance_id,) = hooked_group(aws, hook="someone-elses-hook")
    node = Node(config_server, "203.0.114.23")
    attest(config_settings, node, instance_id)
    reaper = Reaper(api, AwsProvider(aws.asg, aws.ec2, [group]), max_age_hours=0)
    reaper.run()
    node.drain_fully("blocked")
    lifecycle.scale_in(group, instance_id)
    # The group has no hook of ours: the wait cannot be ended by us, and that must be seen.
    with pytest.raises(ProviderError, match=r"LifecycleAction.*no lifecycle hook phoenix-drain"):
        reaper.run()
    assert node.status() == "drained"
    assert lifecycle.state(group, instance_id) == "Terminating:Wait"


def test_a_lifecycle_call_for_a_wait_already_over_is_nothing_to_do(
    aws: Aws, lifecycle: Lifecycle
) -> None:
    group, (instance_id,) = hooked_group(aws)
    provider = AwsProvider(aws.asg, aws.ec2, [group])
    machine = Leaving(instance_id, group)
    lifecycle.scale_in(group, instance_id)
    provider.release(machine)
    assert lifecycle.completed == {instance_id: "CONTINUE"}
    # A rerun (or a hook that timed out meanwhile) is refused by AWS: nothing left to do.
    provider.hold(machine)
    provider.release(machine)
    assert provider.leaving() == []
