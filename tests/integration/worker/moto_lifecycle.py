"""The terminating lifecycle hook, added to moto's Auto Scaling for the reaper's tests.

moto 5.2 keeps lifecycle hooks (PutLifecycleHook, DescribeLifecycleHooks) but implements neither
CompleteLifecycleAction nor RecordLifecycleActionHeartbeat, and never holds an instance in
``Terminating:Wait``: a scale-in or TerminateInstanceInAutoScalingGroup ends the instance at
once. This adds what the reaper calls to moto's own server, which runs in the test process
(ThreadedMotoServer), so the reaper still talks to it over HTTP through botocore. The added
behaviour is AWS's as documented for ``autoscaling:EC2_INSTANCE_TERMINATING`` hooks:

- a scale-in, or TerminateInstanceInAutoScalingGroup, of an instance whose group has such a
  hook leaves it ``Terminating:Wait`` (and running) instead of ending it;
- CompleteLifecycleAction (CONTINUE or ABANDON alike, for a terminating hook) ends it;
- both calls are refused with ``ValidationError`` for a hook the group does not have, or an
  instance that is not waiting (the texts are ours, not AWS's).

Not emulated: the heartbeat timeout and the global timeout (AWS goes on with the hook's default
result when they lapse); a test that needs the wait to be over completes it itself.
"""

from __future__ import annotations

from collections import Counter

import pytest
from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import (
    AutoScalingBackend,
    FakeAutoScalingGroup,
    InstanceState,
    TerminateInstanceActivity,
    autoscaling_backends,
)
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult, EmptyResult

ACCOUNT = "123456789012"  # moto's default account
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
WAITING = "Terminating:Wait"


class Lifecycle:
    """What happened to waiting instances: heartbeats and completions, by instance id."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.heartbeats: Counter[str] = Counter()
        self.completed: dict[str, str] = {}

    @property
    def backend(self) -> AutoScalingBackend:
        return autoscaling_backends[ACCOUNT][self.region]

    def has_terminating_hook(self, group: str, name: str | None = None) -> bool:
        return any(
            hook.lifecycle_transition == TERMINATING and (name is None or hook.name == name)
            for hook in self.backend.describe_lifecycle_hooks(group)
        )

    def scale_in(self, group_name: str, instance_id: str) -> None:
        """The group takes this instance away, as a scale-in picking it would."""
        group = self.backend.autoscaling_groups[group_name]
        group.desired_capacity = (group.desired_capacity or 1) - 1
        state = _state(group, instance_id)
        if self.has_terminating_hook(group_name):
            state.lifecycle_state = WAITING
        else:
            self._end(group, state)

    def state(self, group_name: str, instance_id: str) -> str | None:
        group = self.backend.autoscaling_groups[group_name]
        found = [s for s in group.instance_states if s.instance.id == instance_id]
        return found[0].lifecycle_state if found else None

    def _waiting(
        self, group_name: str, hook: str, instance_id: str
    ) -> tuple[FakeAutoScalingGroup, InstanceState]:
        group = self.backend.autoscaling_groups.get(group_name)
        if group is None or not self.has_terminating_hook(group_name, hook):
            raise ValidationError(f"no lifecycle hook {hook} in group {group_name}")
        found = [s for s in group.instance_states if s.instance.id == instance_id]
        if not found or found[0].lifecycle_state != WAITING:
            raise ValidationError(
                f"No active Lifecycle Action found with instance ID {instance_id}"
            )
        return group, found[0]

    def _end(self, group: FakeAutoScalingGroup, state: InstanceState) -> None:
        group.instance_states = [s for s in group.instance_states if s is not state]
        self.backend.ec2_backend.terminate_instances([state.instance.id])

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        lifecycle = self

        def record_lifecycle_action_heartbeat(response: AutoScalingResponse) -> EmptyResult:
            instance_id = response._get_param("InstanceId")
            lifecycle._waiting(
                response._get_param("AutoScalingGroupName"),
                response._get_param("LifecycleHookName"),
                instance_id,
            )
            lifecycle.heartbeats[instance_id] += 1
            return EmptyResult()

        def complete_lifecycle_action(response: AutoScalingResponse) -> EmptyResult:
            instance_id = response._get_param("InstanceId")
            result = response._get_param("LifecycleActionResult")
            if result not in ("CONTINUE", "ABANDON"):
                raise ValidationError(f"LifecycleActionResult {result!r}")
            group, state = lifecycle._waiting(
                response._get_param("AutoScalingGroupName"),
                response._get_param("LifecycleHookName"),
                instance_id,
            )
            lifecycle._end(group, state)
            lifecycle.completed[instance_id] = result
            return EmptyResult()

        original = AutoScalingResponse.terminate_instance_in_auto_scaling_group

        def terminate_instance_in_auto_scaling_group(
            response: AutoScalingResponse,
        ) -> ActionResult:
            instance_id = response._get_param("InstanceId")
            for group in lifecycle.backend.autoscaling_groups.values():
                found = [s for s in group.instance_states if s.instance.id == instance_id]
                if found and lifecycle.has_terminating_hook(group.name):
                    found[0].lifecycle_state = WAITING
                    activity = TerminateInstanceActivity(
                        found[0].instance, group.desired_capacity or 0
                    )
                    return ActionResult({"Activity": activity})
            return original(response)

        for name, action in (
            ("record_lifecycle_action_heartbeat", record_lifecycle_action_heartbeat),
            ("complete_lifecycle_action", complete_lifecycle_action),
            ("terminate_instance_in_auto_scaling_group", terminate_instance_in_auto_scaling_group),
        ):
            monkeypatch.setattr(AutoScalingResponse, name, action, raising=False)


def _state(group: FakeAutoScalingGroup, instance_id: str) -> InstanceState:
    found = [s for s in group.instance_states if s.instance.id == instance_id]
    assert found, f"{instance_id} is not in {group.name}"
    return found[0]
