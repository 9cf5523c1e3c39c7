"""The reaper: terminates nodes the config role reports as drained, and retires old ones.

Two specs conflicted ("terminate ephemeral nodes older than 24 h" against "only kill nodes that
are blocked or compromised"). Resolved so that no live session is ever cut: termination only
ever follows a drain that config has seen complete (status ``drained``: three heartbeats with no
active peer), whatever the reason; age-based retirement is opt-in (PHOENIX_NODE_MAX_AGE) and
only *starts* a drain with reason ``retired``.

A node is recorded as terminated only after the provider confirmed it is gone, so an error at
any step leaves it ``drained`` for the next run, which terminates (idempotently) and records.
A node whose machine the provider cannot know for certain (on AWS: no attested instance id) is
never terminated automatically: it stays ``drained`` and is left to an operator.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from phoenix.common.logging import get_logger
from phoenix.worker.nodes import ConfigApi
from phoenix.worker.schemas import NodeSummary

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

_log = get_logger("phoenix.worker.reaper")


class ProviderError(Exception):
    """The provider could not confirm the node is gone; nothing is recorded."""


class NotAttested(Exception):
    """The provider cannot know the node's machine for certain: an operator must terminate it."""


class Provider(Protocol):
    def adopt(self, nodes: Sequence[NodeSummary]) -> int:
        """Mark the machines of these serving nodes as theirs; how many were newly marked."""

    def terminate(self, node: NodeSummary) -> None:
        """Make sure the node's machine is gone (or going); a no-op when it already is.

        Raises NotAttested when the machine is not known for certain, ProviderError when it
        may not or could not be terminated."""

    def launched_at(self, node: NodeSummary) -> datetime | None: ...


@dataclass(frozen=True)
class ReapReport:
    terminated: int
    retired: int
    unattested: int = 0  # drained, but left to an operator (no attested machine)
    adopted: int = 0  # serving nodes' machines newly marked as theirs


class Reaper:
    def __init__(self, api: ConfigApi, provider: Provider, max_age_hours: int) -> None:
        self.api = api
        self.provider = provider
        self.max_age = timedelta(hours=max_age_hours) if max_age_hours > 0 else None

    def run(self, now: datetime | None = None) -> ReapReport:
        active = self.api.nodes("active")
        adopted = self.provider.adopt([*self.api.nodes("pending"), *active])
        terminated = unattested = 0
        for node in self.api.nodes("drained"):
            if node.active_peers:  # a fresh heartbeat with peers: not empty after all, wait
                _log.warning("reaper_skipped_busy_node", node=str(node.id))
                continue
            try:
                self.provider.terminate(node)
            except NotAttested:
                _log.warning("reaper_not_attested", node=str(node.id))
                unattested += 1
                continue
            self.api.terminated(node.id)
            _log.info("node_terminated", node=str(node.id), reason=node.drain_reason)
            terminated += 1
        retired = self._retire(active, now or datetime.now(UTC)) if self.max_age else 0
        return ReapReport(
            terminated=terminated, retired=retired, unattested=unattested, adopted=adopted
        )

    def _retire(self, active: list[NodeSummary], now: datetime) -> int:
        assert self.max_age is not None
        retired = 0
        for node in active:
            launched = self.provider.launched_at(node)
            if launched is not None and now - launched > self.max_age:
                self.api.drain(node.id, "retired")  # only a drain: its peers move on first
                _log.info("node_retired", node=str(node.id))
                retired += 1
        return retired


NODE_TAG = "phoenix:node-id"
# DescribeAutoScalingInstances takes at most 50 instance ids; the EC2 calls follow suit.
BATCH = 50


class AwsProvider:
    """Exit nodes are instances of the operator's named Auto Scaling groups.

    An instance is known only by the id config recorded from the node's signed instance identity
    document, never by an address. Before terminating, the instance must be in one of ``groups``
    and carry the tag ``phoenix:node-id`` with the node's id, which :meth:`adopt` set while the
    node was serving.
    """

    GONE = ("shutting-down", "terminated")

    def __init__(
        self, autoscaling: AutoScalingClient, ec2: EC2Client, groups: Sequence[str]
    ) -> None:
        if not groups:
            raise ValueError("the AWS provider acts only inside named Auto Scaling groups")
        self.autoscaling = autoscaling
        self.ec2 = ec2
        self.groups = frozenset(groups)

    def _in_groups(self, instance_ids: Sequence[str]) -> set[str]:
        """Those of the instances that belong to one of the named groups."""
        paginator = self.autoscaling.get_paginator("describe_auto_scaling_instances")
        return {
            instance["InstanceId"]
            for batch in _batches(instance_ids)
            for page in paginator.paginate(InstanceIds=batch)
            for instance in page["AutoScalingInstances"]
            if instance["AutoScalingGroupName"] in self.groups
        }

    def _live(self, instance_ids: Sequence[str]) -> dict[str, InstanceTypeDef]:
        """Those of the instances that exist and are not (being) terminated, by id."""
        paginator = self.ec2.get_paginator("describe_instances")
        found: dict[str, InstanceTypeDef] = {}
        for batch in _batches(instance_ids):
            # A filter, not InstanceIds=: an unknown id is then no error, just not found.
            for page in paginator.paginate(Filters=[{"Name": "instance-id", "Values": batch}]):
                for reservation in page["Reservations"]:
                    for instance in reservation["Instances"]:
                        if instance["State"]["Name"] not in self.GONE:
                            found[instance["InstanceId"]] = instance
        return found

    def adopt(self, nodes: Sequence[NodeSummary]) -> int:
        """Tag the instances of attested serving nodes with their node id, never overwriting."""
        by_instance = {node.instance_id: node for node in nodes if node.instance_id is not None}
        if not by_instance:
            return 0
        ours = sorted(self._in_groups(sorted(by_instance)))
        adopted = 0
        for instance_id, instance in self._live(ours).items():
            node_id = str(by_instance[instance_id].id)
            tagged = _node_tag(instance)
            if tagged == node_id:
                continue
            if tagged is not None:
                # Another node's instance, or a record that changed: an operator must look.
                _log.warning(
                    "reaper_tag_mismatch", node=node_id, instance=instance_id, tagged=tagged
                )
                continue
            self.ec2.create_tags(
                Resources=[instance_id], Tags=[{"Key": NODE_TAG, "Value": node_id}]
            )
            _log.info("node_adopted", node=node_id, instance=instance_id)
            adopted += 1
        return adopted

    def terminate(self, node: NodeSummary) -> None:
        if node.instance_id is None:
            raise NotAttested(f"node {node.id} has no attested instance id")
        instance = self._live([node.instance_id]).get(node.instance_id)
        if instance is None:
            return  # gone already (or never there): nothing left to stop
        if not self._in_groups([node.instance_id]):
            # Never terminate a machine outside the operator's groups; an operator must look.
            raise ProviderError(
                f"instance {node.instance_id} of node {node.id} is in no named Auto Scaling group"
            )
        tagged = _node_tag(instance)
        if tagged != str(node.id):
            raise ProviderError(
                f"instance {node.instance_id} is tagged {NODE_TAG}={tagged!r}, not node {node.id}"
            )
        # Keep the group's size: Auto Scaling starts a fresh node (with a fresh address).
        self.autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=node.instance_id, ShouldDecrementDesiredCapacity=False
        )

    def launched_at(self, node: NodeSummary) -> datetime | None:
        if node.instance_id is None:
            return None
        instance = self._live([node.instance_id]).get(node.instance_id)
        return None if instance is None else instance["LaunchTime"]


def _node_tag(instance: InstanceTypeDef) -> str | None:
    return next((t["Value"] for t in instance.get("Tags", []) if t["Key"] == NODE_TAG), None)


def _batches(items: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), BATCH):
        yield list(items[start : start + BATCH])


class LocalProvider:
    """Development nodes: a process whose pid is in ``<dir>/<public ip>.pid``."""

    def __init__(self, directory: Path, wait_seconds: float = 10.0) -> None:
        self.directory = directory
        self.wait_seconds = wait_seconds

    def adopt(self, nodes: Sequence[NodeSummary]) -> int:
        return 0  # a pid file is named by the node's address: there is nothing to mark

    def _pid_file(self, node: NodeSummary) -> Path | None:
        return self.directory / f"{node.public_ip}.pid" if node.public_ip else None

    def terminate(self, node: NodeSummary) -> None:
        pid_file = self._pid_file(node)
        if pid_file is None or not pid_file.exists():
            return
        pid = int(pid_file.read_text().strip())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pid_file.unlink(missing_ok=True)
            return
        deadline = time.monotonic() + self.wait_seconds
        while _alive(pid):
            if time.monotonic() > deadline:
                raise ProviderError(f"node process {pid} did not stop")
            time.sleep(0.05)
        pid_file.unlink(missing_ok=True)

    def launched_at(self, node: NodeSummary) -> datetime | None:
        pid_file = self._pid_file(node)
        if pid_file is None or not pid_file.exists():
            return None
        return datetime.fromtimestamp(pid_file.stat().st_mtime, UTC)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reaps it when it is our own child
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
