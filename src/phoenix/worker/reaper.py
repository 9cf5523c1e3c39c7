"""The reaper: terminates nodes the config role reports as drained, and retires old ones.

Two specs conflicted ("terminate ephemeral nodes older than 24 h" against "only kill nodes that
are blocked or compromised"). Resolved so that no live session is ever cut: termination only
ever follows a drain that config has seen complete (status ``drained``: three heartbeats with no
active peer), whatever the reason; age-based retirement is opt-in (PHOENIX_NODE_MAX_AGE) and
only *starts* a drain with reason ``retired``.

A node is recorded as terminated only after the provider confirmed it is gone, so an error at
any step leaves it ``drained`` for the next run, which terminates (idempotently) and records.
"""

from __future__ import annotations

import os
import signal
import time
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

_log = get_logger("phoenix.worker.reaper")


class ProviderError(Exception):
    """The provider could not confirm the node is gone; nothing is recorded."""


class Provider(Protocol):
    def terminate(self, node: NodeSummary) -> None:
        """Make sure the node's machine is gone (or going); a no-op when it already is."""

    def launched_at(self, node: NodeSummary) -> datetime | None: ...


@dataclass(frozen=True)
class ReapReport:
    terminated: int
    retired: int


class Reaper:
    def __init__(self, api: ConfigApi, provider: Provider, max_age_hours: int) -> None:
        self.api = api
        self.provider = provider
        self.max_age = timedelta(hours=max_age_hours) if max_age_hours > 0 else None

    def run(self, now: datetime | None = None) -> ReapReport:
        terminated = 0
        for node in self.api.nodes("drained"):
            if node.active_peers:  # a fresh heartbeat with peers: not empty after all, wait
                _log.warning("reaper_skipped_busy_node", node=str(node.id))
                continue
            self.provider.terminate(node)
            self.api.terminated(node.id)
            _log.info("node_terminated", node=str(node.id), reason=node.drain_reason)
            terminated += 1
        retired = self._retire(now or datetime.now(UTC)) if self.max_age is not None else 0
        return ReapReport(terminated=terminated, retired=retired)

    def _retire(self, now: datetime) -> int:
        assert self.max_age is not None
        retired = 0
        for node in self.api.nodes("active"):
            launched = self.provider.launched_at(node)
            if launched is not None and now - launched > self.max_age:
                self.api.drain(node.id, "retired")  # only a drain: its peers move on first
                _log.info("node_retired", node=str(node.id))
                retired += 1
        return retired


class AwsProvider:
    """Exit nodes are instances of Auto Scaling groups, found by their public IP."""

    LIVE = ("pending", "running", "stopping", "stopped")

    def __init__(self, autoscaling: AutoScalingClient, ec2: EC2Client, groups: list[str]) -> None:
        self.autoscaling = autoscaling
        self.ec2 = ec2
        self.groups = groups

    def _managed_instances(self) -> set[str]:
        paginator = self.autoscaling.get_paginator("describe_auto_scaling_groups")
        pages = (
            paginator.paginate(AutoScalingGroupNames=self.groups)
            if self.groups
            else paginator.paginate()
        )
        return {
            instance["InstanceId"]
            for page in pages
            for group in page["AutoScalingGroups"]
            for instance in group.get("Instances", [])
        }

    def _live_instance(self, public_ip: str) -> tuple[str, datetime] | None:
        answer = self.ec2.describe_instances(
            Filters=[
                {"Name": "ip-address", "Values": [public_ip]},
                {"Name": "instance-state-name", "Values": list(self.LIVE)},
            ]
        )
        for reservation in answer["Reservations"]:
            for instance in reservation["Instances"]:
                return instance["InstanceId"], instance["LaunchTime"]
        return None

    def terminate(self, node: NodeSummary) -> None:
        if node.public_ip is None:
            raise ProviderError(f"node {node.id} has no public IP to find its instance by")
        found = self._live_instance(node.public_ip)
        if found is None:
            return  # gone already: terminated instances release their public IP
        instance_id, _ = found
        if instance_id not in self._managed_instances():
            # Never terminate a machine we do not manage; an operator must look at it.
            raise ProviderError(f"instance {instance_id} of node {node.id} is in no managed group")
        # Keep the group's size: Auto Scaling starts a fresh node (with a fresh address).
        self.autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=instance_id, ShouldDecrementDesiredCapacity=False
        )

    def launched_at(self, node: NodeSummary) -> datetime | None:
        if node.public_ip is None:
            return None
        found = self._live_instance(node.public_ip)
        return None if found is None else found[1]


class LocalProvider:
    """Development nodes: a process whose pid is in ``<dir>/<public ip>.pid``."""

    def __init__(self, directory: Path, wait_seconds: float = 10.0) -> None:
        self.directory = directory
        self.wait_seconds = wait_seconds

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
