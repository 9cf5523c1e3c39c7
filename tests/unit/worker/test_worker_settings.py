"""Worker settings fail fast, naming the variable to fix."""

from __future__ import annotations

import pytest

from phoenix.settings import SettingsError, load
from phoenix.worker.settings import WorkerSettings
from tests.unit.test_cli import assert_one_line_naming, phoenix

SEED = "ZGV2LW9ubHktYmxvY2tsaXN0LXNpZ25pbmctc2VlZCE="


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PHOENIX_BLOCKLIST_TARGET": "file:///tmp/x"}, "PHOENIX_BLOCKLIST_SIGNING_KEY"),
        (
            {
                "PHOENIX_BLOCKLIST_TARGET": "file:///tmp/x",
                "PHOENIX_BLOCKLIST_SIGNING_KEY": "c2hvcnQ=",
            },
            "PHOENIX_BLOCKLIST_SIGNING_KEY",
        ),
        (
            {"PHOENIX_BLOCKLIST_TARGET": "ftp://x", "PHOENIX_BLOCKLIST_SIGNING_KEY": SEED},
            "PHOENIX_BLOCKLIST_TARGET",
        ),
        ({"PHOENIX_BLOCKLIST_MAX_SHRINK": "1.5"}, "PHOENIX_BLOCKLIST_MAX_SHRINK"),
        ({"PHOENIX_NODE_PROVIDER": "aws"}, "PHOENIX_MONITOR_TOKEN"),
        (
            {"PHOENIX_NODE_PROVIDER": "aws", "PHOENIX_MONITOR_TOKEN": "m" * 32},
            "PHOENIX_NODE_AWS_GROUPS",
        ),
        (
            {
                "PHOENIX_NODE_PROVIDER": "aws",
                "PHOENIX_MONITOR_TOKEN": "m" * 32,
                "PHOENIX_NODE_AWS_GROUPS": " , ",
            },
            "PHOENIX_NODE_AWS_GROUPS",
        ),
        ({"PHOENIX_CANARY_ZONES": "zen.example"}, "PHOENIX_MONITOR_TOKEN"),
        ({"PHOENIX_NODE_PROVIDER": "gcp"}, "PHOENIX_NODE_PROVIDER"),
    ],
)
def test_a_bad_worker_setting_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as error:
        load(WorkerSettings, env)
    assert error.value.variable == variable


def test_lists_are_comma_separated() -> None:
    settings = load(WorkerSettings, {"PHOENIX_BLOCKLIST_VARIANTS": "base, fakenews-gambling"})
    assert settings.blocklist_variants == ["base", "fakenews-gambling"]


def test_the_aws_provider_only_acts_in_the_groups_an_operator_names() -> None:
    settings = load(
        WorkerSettings,
        {
            "PHOENIX_NODE_PROVIDER": "aws",
            "PHOENIX_MONITOR_TOKEN": "m" * 32,
            "PHOENIX_NODE_AWS_GROUPS": "exit-nodes-fra, exit-nodes-ams",
        },
    )
    assert settings.node_aws_groups == ["exit-nodes-fra", "exit-nodes-ams"]
    # Without groups the worker does not start: exit 2, one line naming the variable.
    refused = phoenix(
        "serve", "--role", "worker", PHOENIX_NODE_PROVIDER="aws", PHOENIX_MONITOR_TOKEN="m" * 32
    )
    assert_one_line_naming(refused, "PHOENIX_NODE_AWS_GROUPS")
