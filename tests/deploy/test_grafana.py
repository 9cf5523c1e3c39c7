"""deploy/grafana: each dashboard is valid JSON on the ${DS_PROMETHEUS} input, queries only
series the code exports and recording rules rules.yml defines, and shows no label that could
hold an identity.

Grafana itself cannot be installed on the development machines (deploy/grafana/README.md), so
the dashboards are checked as files. Each check is a function over a parsed dashboard, shown to
reject a planted violation as well.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness import metric_names

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana"
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
DATASOURCE = "${DS_PROMETHEUS}"
# Labels whose values would name a node, a user, an address, a key or a token. docs/metrics.md
# promises no series carries one; a dashboard must not ask for one either (a relabelled target
# label, say). `instance` (a scrape target's address:port) and `pod` are the scrape's own.
IDENTITY_LABELS = frozenset(
    {
        "node",
        "node_id",
        "nodeid",
        "uid",
        "user",
        "user_id",
        "account",
        "email",
        "ip",
        "ip_address",
        "address",
        "addr",
        "client",
        "client_ip",
        "public_ip",
        "public_key",
        "peer",
        "key",
        "key_id",
        "token",
        "instance_id",
        "device",
        "device_id",
    }
)

Dashboard = dict[str, Any]


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def panels(container: Dashboard) -> Iterator[Dashboard]:
    """Every panel, those inside rows included."""
    for panel in container.get("panels", []):
        yield panel
        yield from panels(panel)


def queries(dashboard: Dashboard) -> Iterator[tuple[str, str, str]]:
    """(where, PromQL, legend) of every panel target and query variable."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            where = f"panel {panel.get('title')!r} target {target.get('refId')}"
            yield where, str(target.get("expr", "")), str(target.get("legendFormat", ""))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable.get("query")
            text = query.get("query", "") if isinstance(query, dict) else str(query or "")
            yield f"variable {variable.get('name')!r}", str(text), ""


def recording_rules() -> frozenset[str]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return frozenset(
        rule["record"]
        for group in document["groups"]
        for rule in group["rules"]
        if "record" in rule
    )


def shape_problems(dashboard: Dashboard) -> list[str]:
    problems: list[str] = []
    if not 36 <= int(dashboard.get("schemaVersion", 0)) <= 41:
        problems.append(f"schemaVersion {dashboard.get('schemaVersion')}")
    inputs = {i.get("name"): i for i in dashboard.get("__inputs", [])}
    if inputs.get("DS_PROMETHEUS", {}).get("pluginId") != "prometheus":
        problems.append("no DS_PROMETHEUS input for a Prometheus data source")
    if not dashboard.get("uid") or not dashboard.get("title"):
        problems.append("no uid or title")
    shown = [p for p in panels(dashboard) if p.get("type") != "row"]
    if not shown:
        problems.append("no panels")
    ids = [p.get("id") for p in panels(dashboard)]
    if len(ids) != len(set(ids)):
        problems.append("panel ids repeat")
    for panel in shown:
        title = panel.get("title")
        if not panel.get("targets"):
            problems.append(f"panel {title!r}: no targets")
        sources = [panel.get("datasource")] + [
            t.get("datasource") for t in panel.get("targets", [])
        ]
        if any((s or {}).get("uid") != DATASOURCE for s in sources):
            problems.append(f"panel {title!r}: a data source other than {DATASOURCE}")
        if any(not str(t.get("expr", "")).strip() for t in panel.get("targets", [])):
            problems.append(f"panel {title!r}: a target without an expr")
    return problems


def metric_problems(
    dashboard: Dashboard, exported: frozenset[str], records: frozenset[str]
) -> list[str]:
    problems: list[str] = []
    for where, expr, _ in queries(dashboard):
        for name in sorted(metric_names.metric_names(expr) - exported):
            problems.append(f"{where}: {name} is no series the code exports")
        for name in sorted(metric_names.recording_names(expr) - records):
            problems.append(f"{where}: {name} is no recording rule of rules.yml")
    return problems


def label_problems(dashboard: Dashboard) -> list[str]:
    problems: list[str] = []
    for where, expr, legend in queries(dashboard):
        used = metric_names.label_names(expr) | metric_names.legend_labels(legend)
        for label in sorted(used & IDENTITY_LABELS):
            problems.append(f"{where}: label {label!r} could hold an identity")
    return problems


@pytest.fixture(scope="module", params=[p.name for p in dashboard_files()])
def dashboard(request: pytest.FixtureRequest) -> Dashboard:
    loaded: Dashboard = json.loads((DASHBOARDS / request.param).read_text(encoding="utf-8"))
    return loaded


def test_the_three_dashboards_are_there() -> None:
    assert [p.name for p in dashboard_files()] == [
        "analytics-ingest.json",
        "fleet.json",
        "issuance-redemption.json",
    ]
    uids = [json.loads(p.read_text())["uid"] for p in dashboard_files()]
    assert len(set(uids)) == len(uids)


def test_each_dashboard_is_valid_json_with_panels_on_the_datasource_input(
    dashboard: Dashboard,
) -> None:
    assert shape_problems(dashboard) == []


def test_each_dashboard_queries_only_exported_series_and_defined_recording_rules(
    dashboard: Dashboard,
) -> None:
    """Fails while the code does not yet export a series of the contract: the message names it."""
    assert metric_problems(dashboard, metric_names.exported_samples(), recording_rules()) == []


def test_no_dashboard_uses_a_label_that_could_hold_an_identity(dashboard: Dashboard) -> None:
    assert label_problems(dashboard) == []


def _planted() -> Dashboard:
    loaded: Dashboard = json.loads((DASHBOARDS / "fleet.json").read_text(encoding="utf-8"))
    planted = copy.deepcopy(loaded)
    panel = next(p for p in panels(planted) if p.get("type") == "timeseries")
    panel["targets"].append(
        {
            "refId": "Z",
            "datasource": {"type": "prometheus", "uid": DATASOURCE},
            "expr": 'sum by (node_id) (phoenix_node_peers{public_ip!=""})'
            " + phoenix_config_nodes_total + location:phoenix_made_up:max",
            "legendFormat": "{{uid}}",
        }
    )
    panel["datasource"] = {"type": "prometheus", "uid": "prometheus-prod"}
    planted["schemaVersion"] = 16
    return planted


def test_a_planted_dashboard_fails_every_check() -> None:
    planted = _planted()
    title = next(p for p in panels(planted) if p.get("type") == "timeseries")["title"]
    assert shape_problems(planted) == [
        "schemaVersion 16",
        f"panel {title!r}: a data source other than {DATASOURCE}",
    ]
    where = f"panel {title!r} target Z"
    assert metric_problems(planted, metric_names.exported_samples(), recording_rules()) == [
        f"{where}: phoenix_config_nodes_total is no series the code exports",
        f"{where}: location:phoenix_made_up:max is no recording rule of rules.yml",
    ]
    assert label_problems(planted) == [
        f"{where}: label 'node_id' could hold an identity",
        f"{where}: label 'public_ip' could hold an identity",
        f"{where}: label 'uid' could hold an identity",
    ]
