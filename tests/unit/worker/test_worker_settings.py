"""Worker settings fail fast, naming the variable to fix."""

from __future__ import annotations

import pytest

from phoenix.settings import SettingsError, load
from phoenix.worker.settings import WorkerSettings

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
