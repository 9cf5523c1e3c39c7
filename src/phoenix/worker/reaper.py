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

Scale-in (AWS): the Auto Scaling groups hold a terminating lifecycle hook (``DRAIN_HOOK``,
deploy/terraform/node-fleet), so an instance the group takes away waits in ``Terminating:Wait``.
Each run drains the node of such an instance through config (reason ``retired``: config's
reasons are a database constraint, and a scale-in is a retirement decided by the group), keeps
the wait alive with a heartbeat while it drains, and once config reports it ``drained``
completes the action (``CONTINUE``) where it would otherwise terminate the instance, then
records it terminated. An instance of no known node is let go at once: nothing serves there.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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


@dataclass(frozen=True)
class Leaving:
    """A machine the provider is taking away (a scale-in) that waits for its node to drain."""

    instance_id: str
    group: str


@dataclass(frozen=True)
class Membership:
    group: str
    state: str  # the instance's Auto Scaling lifecycle state, e.g. InService, Terminating:Wait


class Provider(Protocol):
    def adopt(self, nodes: Sequence[NodeSummary]) -> int:
        """Mark the machines of these serving nodes as theirs; how many were newly marked."""

    def terminate(self, node: NodeSummary) -> None:
        """Make sure the node's machine is gone (or going); a no-op when it already is.

        Raises NotAttested when the machine is not known for certain, ProviderError when it
        may not or could not be terminated."""

    def launched_at(self, node: NodeSummary) -> datetime | None: ...

    def leaving(self) -> list[Leaving]:
        """The machines waiting for their node to drain before they go (none: no scale-in)."""

    def hold(self, machine: Leaving) -> None:
        """More time for the drain; a no-op when the machine no longer waits."""

    def release(self, machine: Leaving) -> None:
        """Let the waiting machine go; a no-op when it no longer waits."""


@dataclass(frozen=True)
class ReapReport:
    terminated: int
    retired: int
    unattested: int = 0  # drained, but left to an operator (no attested machine)
    adopted: int = 0  # serving nodes' machines newly marked as theirs
    scaling_in: int = 0  # machines of a scale-in whose node drains (started, or going on)
    released: int = 0  # machines of a scale-in with no node to drain, let go at once


@dataclass(frozen=True)
class ScaleIn:
    draining: frozenset[uuid.UUID] = frozenset()  # nodes of leaving machines, draining
    released: int = 0


class Reaper:
    def __init__(self, api: ConfigApi, provider: Provider, max_age_hours: int) -> None:
        self.api = api
        self.provider = provider
        self.max_age = timedelta(hours=max_age_hours) if max_age_hours > 0 else None

    def run(self, now: datetime | None = None) -> ReapReport:
        active = self.api.nodes("active")
        pending = self.api.nodes("pending")
        adopted = self.provider.adopt([*pending, *active])
        drained = self.api.nodes("drained")
        scale_in = self._scale_in(pending, active, drained)
        terminated = unattested = 0
        for node in drained:
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
        serving = [node for node in active if node.id not in scale_in.draining]
        retired = self._retire(serving, now or datetime.now(UTC)) if self.max_age else 0
        return ReapReport(
            terminated=terminated,
            retired=retired,
            unattested=unattested,
            adopted=adopted,
            scaling_in=len(scale_in.draining),
            released=scale_in.released,
        )

    def _scale_in(
        self, pending: list[NodeSummary], active: list[NodeSummary], drained: list[NodeSummary]
    ) -> ScaleIn:
        """Drain the nodes of machines a scale-in takes away; let go those without one.

        A drained one is completed by the termination loop that follows (``terminate``)."""
        leaving = self.provider.leaving()
        if not leaving:
            return ScaleIn()
        listed = [*pending, *active, *self.api.nodes("lost"), *self.api.nodes("draining")]
        by_instance = {n.instance_id: n for n in [*listed, *drained] if n.instance_id is not None}
        draining: set[uuid.UUID] = set()
        released = 0
        for machine in leaving:
            node = by_instance.get(machine.instance_id)
            if node is None:
                self.provider.release(machine)
                _log.info("scale_in_released", instance=machine.instance_id)
                released += 1
                continue
            draining.add(node.id)
            if node.status in ("pending", "active", "lost"):
                # Never re-drain a draining or drained node: config would restart its count.
                self.api.drain(node.id, SCALE_IN_REASON)
                _log.info("scale_in_drain", node=str(node.id), instance=machine.instance_id)
            if node.active_peers is not None:
                self.provider.hold(machine)
            else:
                # Silent (no fresh heartbeat): it cannot drain, so no more time is asked; the
                # hook's own timeout lets the machine go.
                _log.warning("scale_in_node_silent", node=str(node.id))
        return ScaleIn(draining=frozenset(draining), released=released)

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
# The terminating lifecycle hook of the node fleet's groups (deploy/terraform/node-fleet names
# it the same; tests/deploy/test_terraform.py holds them equal).
DRAIN_HOOK = "phoenix-drain"
# Config's drain reasons are a database constraint; a scale-in is a retirement by the group.
SCALE_IN_REASON = "retired"
WAITING = "Terminating:Wait"
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

    def _memberships(self, instance_ids: Sequence[str]) -> dict[str, Membership]:
        """Those of the instances that belong to one of the named groups: group, lifecycle state."""
        paginator = self.autoscaling.get_paginator("describe_auto_scaling_instances")
        return {
            instance["InstanceId"]: Membership(
                instance["AutoScalingGroupName"], instance["LifecycleState"]
            )
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
        ours = sorted(self._memberships(sorted(by_instance)))
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
        member = self._memberships([node.instance_id]).get(node.instance_id)
        if member is None:
            # Never terminate a machine outside the operator's groups; an operator must look.
            raise ProviderError(
                f"instance {node.instance_id} of node {node.id} is in no named Auto Scaling group"
            )
        tagged = _node_tag(instance)
        if tagged != str(node.id):
            raise ProviderError(
                f"instance {node.instance_id} is tagged {NODE_TAG}={tagged!r}, not node {node.id}"
            )
        if member.state == WAITING:
            # A scale-in (or our own earlier call) waits on the drain hook: its node is drained.
            self.release(Leaving(node.instance_id, member.group))
            return
        if member.state.startswith("Terminating") or member.state == "Terminated":
            return  # the group is taking it away already
        # Keep the group's size: Auto Scaling starts a fresh node (with a fresh address).
        self.autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=node.instance_id, ShouldDecrementDesiredCapacity=False
        )

    def leaving(self) -> list[Leaving]:
        """Instances of the named groups waiting on the drain hook (``Terminating:Wait``)."""
        paginator = self.autoscaling.get_paginator("describe_auto_scaling_groups")
        return [
            Leaving(instance["InstanceId"], group["AutoScalingGroupName"])
            for batch in _batches(sorted(self.groups))
            for page in paginator.paginate(AutoScalingGroupNames=batch)
            for group in page["AutoScalingGroups"]
            for instance in group.get("Instances", [])
            if instance["LifecycleState"] == WAITING
        ]

    def hold(self, machine: Leaving) -> None:
        with self._while_waiting(machine, "RecordLifecycleActionHeartbeat"):
            self.autoscaling.record_lifecycle_action_heartbeat(
                LifecycleHookName=DRAIN_HOOK,
                AutoScalingGroupName=machine.group,
                InstanceId=machine.instance_id,
            )

    def release(self, machine: Leaving) -> None:
        with self._while_waiting(machine, "CompleteLifecycleAction"):
            self.autoscaling.complete_lifecycle_action(
                LifecycleHookName=DRAIN_HOOK,
                AutoScalingGroupName=machine.group,
                InstanceId=machine.instance_id,
                LifecycleActionResult="CONTINUE",
            )
            _log.info("lifecycle_action_completed", instance=machine.instance_id)

    @contextmanager
    def _while_waiting(self, machine: Leaving, action: str) -> Iterator[None]:
        """A refused call is nothing to do once the wait is over (timed out, or completed by an
        earlier run); while the instance still waits (a missing hook, say) it must be seen."""
        from botocore.exceptions import ClientError

        try:
            yield
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ValidationError":
                raise
            member = self._memberships([machine.instance_id]).get(machine.instance_id)
            if member is not None and member.state == WAITING:
                raise ProviderError(
                    f"{action} for instance {machine.instance_id} in {machine.group}: {error}"
                ) from error
            _log.info("lifecycle_wait_over", instance=machine.instance_id, action=action)

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

    def leaving(self) -> list[Leaving]:
        return []  # development nodes are never scaled in

    def hold(self, machine: Leaving) -> None:
        return None

    def release(self, machine: Leaving) -> None:
        return None

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
