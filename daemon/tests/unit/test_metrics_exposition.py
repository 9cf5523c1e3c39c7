"""The daemon's exposition as Prometheus reads it: ``promtool check metrics`` passes it without a
remark, and it carries exactly the series of the contract (docs/metrics.md, table
"phoenix-node").

Every series is touched here so that labelled ones appear; what moves them, and when, is
``tests/integration/test_node_metrics.py``, which drives the agent and sweeps the labels.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Final

from prometheus_client import generate_latest

from node_harness.skips import require
from phoenix_node.metrics import Metrics

CONTRACT: Final = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"
LABELS: Final = {"op": {"add", "update", "remove"}, "what": {"interface", "firewall"}}


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    require("promtool", promtool is not None, "Debian package prometheus; make deps installs it")
    assert promtool is not None
    return subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def every_series_touched() -> Metrics:
    metrics = Metrics()
    for name, values in LABELS.items():
        counter = metrics.peer_changes if name == "op" else metrics.recreated
        for value in values:
            counter.labels(value).inc()
    metrics.held.inc()
    metrics.guard_held.set(1)
    metrics.firewall_applied.set_to_current_time()
    metrics.sync_lag.set(2)
    metrics.revision.set(40)
    metrics.recent_handshakes.set(3)
    return metrics


def exposition(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


def contract_names() -> set[str]:
    section = CONTRACT.read_text().split("\n## phoenix-node\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(phoenix_node_[a-z_]+)`", section, re.MULTILINE))


def test_promtool_accepts_the_exposition_without_a_remark() -> None:
    done = promtool_check(exposition(every_series_touched()))
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_promtool_check_fails_an_exposition_that_breaks_its_lint() -> None:
    # The check above could pass by not looking; this is the same call on a counter with
    # neither help text nor the ``_total`` suffix.
    done = promtool_check("# TYPE phoenix_node_peer_writes counter\nphoenix_node_peer_writes 1\n")
    said = done.stdout + done.stderr
    assert done.returncode != 0
    assert 'should have "_total" suffix' in said
    assert "no help text" in said


def test_the_exposition_has_every_series_of_the_contract_and_no_other() -> None:
    exported = {
        sample.name
        for family in every_series_touched().registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")  # prometheus_client's, beside each counter
    }
    contract = contract_names()
    assert len(contract) >= 12  # the table was found and read
    assert exported == contract
