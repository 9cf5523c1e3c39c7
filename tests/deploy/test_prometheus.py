"""deploy/prometheus: promtool passes the rules, their unit tests and the scrape config; every
alert is tested both ways and has its runbook section; every series a rule reads is documented
in docs/metrics.md and exported by the code.

Each check is a function over parsed files, so the same function runs on the shipped files and
on a copy with one violation planted, which it must reject (as tests/deploy/test_kubernetes.py
does). promtool runs on planted copies too: a rule that does not parse, a rule that no longer
does what its test says, a config with an unknown field.

promtool is Debian's (package `prometheus`, scripts/apt-packages.txt). Debian builds it without
Kubernetes service discovery, so where `kubernetes_sd_configs` is unknown the config is checked
with those blocks swapped for a static target (everything else, relabelling included, as
shipped), and ``test_the_pod_discovery_matches_the_manifests`` checks what promtool cannot:
that the kept pods and port are the ones deploy/kubernetes declares.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml

from phoenix.app import DEFAULT_OPS_PORTS, ROLES, Role
from tests.conftest import require
from tests.harness import metric_names

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules.yml"
TESTS = PROMETHEUS / "tests.yml"
CONFIG = PROMETHEUS / "prometheus.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
MANIFESTS = ROOT / "deploy" / "kubernetes"
RUNBOOK_PREFIX = "docs/runbooks.md#"
SEVERITIES = {"critical", "warning"}

Doc = dict[str, Any]


def _load(path: Path) -> Doc:
    loaded: Doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    require("promtool", found is not None, "Debian package prometheus (scripts/apt-packages.txt)")
    assert found is not None
    return found


def run_promtool(promtool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def _copy(tmp_path: Path) -> Path:
    directory = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, directory)
    return directory


def _dump(path: Path, document: Doc) -> None:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


# ---- the rules, parsed ------------------------------------------------------------------------


def rules_of(document: Doc) -> list[Doc]:
    return [rule for group in document["groups"] for rule in group["rules"]]


def alerts_of(document: Doc) -> dict[str, Doc]:
    return {rule["alert"]: rule for rule in rules_of(document) if "alert" in rule}


def records_of(document: Doc) -> set[str]:
    return {rule["record"] for rule in rules_of(document) if "record" in rule}


def alert_coverage_problems(rules: Doc, tests: Doc) -> list[str]:
    """Each alert needs a case where it fires and one where it stays quiet (exp_alerts: [])."""
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = set(alerts_of(rules))
    problems = [f"{name}: no case where it fires" for name in sorted(alerts - firing)]
    problems += [f"{name}: no case where it stays quiet" for name in sorted(alerts - quiet)]
    problems += [
        f"{name}: tested but not in rules.yml" for name in sorted((firing | quiet) - alerts)
    ]
    return problems


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lowercase, punctuation dropped, spaces to '-'."""
    text = heading.strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in ("L", "N"))
    return kept.replace(" ", "-")


def runbook_anchors(text: str) -> set[str]:
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)
        if fenced or match is None:
            continue
        anchor = github_anchor(match.group(1))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        anchors.add(anchor if count == 0 else f"{anchor}-{count}")
    return anchors


def annotation_problems(rules: Doc, runbooks: str) -> list[str]:
    """Severity, summary, description, and a runbook_url whose anchor is a runbooks heading."""
    anchors = runbook_anchors(runbooks)
    problems: list[str] = []
    for name, alert in alerts_of(rules).items():
        labels = alert.get("labels") or {}
        annotations = alert.get("annotations") or {}
        if labels.get("severity") not in SEVERITIES:
            problems.append(f"{name}: severity {labels.get('severity')!r}, not one of {SEVERITIES}")
        for key in ("summary", "description"):
            if not str(annotations.get(key, "")).strip():
                problems.append(f"{name}: no {key}")
        url = str(annotations.get("runbook_url", ""))
        if not url.startswith(RUNBOOK_PREFIX):
            problems.append(f"{name}: runbook_url {url!r} is not {RUNBOOK_PREFIX}<anchor>")
        elif url.removeprefix(RUNBOOK_PREFIX) not in anchors:
            problems.append(f"{name}: no heading in docs/runbooks.md has the anchor of {url}")
    return problems


def metric_problems(rules: Doc, documented: frozenset[str], exported: frozenset[str]) -> list[str]:
    """Every series a rule reads is in docs/metrics.md and exported by the code; every
    recording rule a rule reads is defined."""
    records = records_of(rules)
    used: dict[str, set[str]] = {}
    problems: list[str] = []
    for rule in rules_of(rules):
        name = str(rule.get("alert") or rule.get("record"))
        expr = str(rule["expr"])
        for metric in metric_names.metric_names(expr):
            used.setdefault(metric, set()).add(name)
        for record in metric_names.recording_names(expr) - records:
            problems.append(f"{name}: reads the recording rule {record}, which rules.yml lacks")
    for metric, readers in sorted(used.items()):
        if metric_names.base_name(metric) not in documented:
            problems.append(
                f"{metric} (read by {', '.join(sorted(readers))}): not in docs/metrics.md"
            )
        if metric not in exported:
            problems.append(
                f"{metric} (read by {', '.join(sorted(readers))}): the code exports no such series"
            )
    return problems


@pytest.fixture(scope="module")
def rules() -> Doc:
    return _load(RULES)


@pytest.fixture(scope="module")
def tests() -> Doc:
    return _load(TESTS)


# ---- promtool -----------------------------------------------------------------------------


def test_promtool_accepts_the_rules(promtool: str) -> None:
    result = run_promtool(promtool, "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_rule_that_does_not_parse(promtool: str, tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    planted = _load(directory / "rules.yml")
    planted["groups"][0]["rules"].append({"alert": "Broken", "expr": "sum(rate(x[5m])"})
    _dump(directory / "rules.yml", planted)
    result = run_promtool(promtool, "check", "rules", directory / "rules.yml")
    assert result.returncode != 0, result.stdout
    assert "Broken" in result.stderr + result.stdout or "parse" in result.stderr.lower()


def test_the_rules_pass_their_promtool_unit_tests(promtool: str) -> None:
    result = run_promtool(promtool, "test", "rules", TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_unit_tests_fail_when_an_alert_stops_doing_what_they_say(
    promtool: str, tmp_path: Path
) -> None:
    directory = _copy(tmp_path)
    planted = _load(directory / "rules.yml")
    alert = alerts_of(planted)["RedemptionErrorRatioHigh"]
    alert["expr"] = str(alert["expr"]).replace("> 0.05", "> 0.5", 1)  # a threshold gone wrong
    _dump(directory / "rules.yml", planted)
    result = run_promtool(promtool, "test", "rules", directory / "tests.yml")
    assert result.returncode != 0, result.stdout
    assert "RedemptionErrorRatioHigh" in result.stdout + result.stderr


def _kubernetes_sd_known(promtool: str, tmp_path: Path) -> bool:
    probe = tmp_path / "probe.yml"
    _dump(
        probe, {"scrape_configs": [{"job_name": "p", "kubernetes_sd_configs": [{"role": "pod"}]}]}
    )
    result = run_promtool(promtool, "check", "config", probe)
    return "kubernetes_sd_configs not found" not in result.stdout + result.stderr


def _checkable_config(promtool: str, tmp_path: Path, config: Doc) -> Path:
    """The config as promtool here can check it, next to copies of the files it names."""
    directory = _copy(tmp_path / "checked")
    if not _kubernetes_sd_known(promtool, tmp_path):
        config = copy.deepcopy(config)
        for job in config["scrape_configs"]:
            if job.pop("kubernetes_sd_configs", None) is not None:
                job["static_configs"] = [{"targets": ["10.0.3.17:9082"]}]
    _dump(directory / "prometheus.yml", config)
    return directory / "prometheus.yml"


def test_promtool_accepts_the_scrape_config(promtool: str, tmp_path: Path) -> None:
    config = _load(CONFIG)
    assert config["rule_files"] == ["rules.yml"], "rule files are named relative to the config"
    result = run_promtool(
        promtool, "check", "config", _checkable_config(promtool, tmp_path, config)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout
    assert "rules found" in result.stdout, "the rule files were not read"


def test_promtool_rejects_a_broken_scrape_config(promtool: str, tmp_path: Path) -> None:
    config = _load(CONFIG)
    config["scrape_configs"][0]["relabel_configs"][0]["action"] = "keepall"  # no such action
    result = run_promtool(
        promtool, "check", "config", _checkable_config(promtool, tmp_path, config)
    )
    assert result.returncode != 0, result.stdout


def _role_pods() -> dict[Role, Doc]:
    """Each role's Deployment pod template, from deploy/kubernetes/<role>.yaml."""
    pods: dict[Role, Doc] = {}
    for role in ROLES:
        for document in yaml.safe_load_all((MANIFESTS / f"{role}.yaml").read_text()):
            if document and document.get("kind") == "Deployment":
                pods[role] = document["spec"]["template"]
    return pods


def _keeps(job: Doc) -> dict[str, str]:
    return {
        rule["source_labels"][0]: rule["regex"]
        for rule in job.get("relabel_configs", [])
        if rule.get("action") == "keep"
    }


def test_the_pod_discovery_matches_the_manifests() -> None:
    config = _load(CONFIG)
    (job,) = [j for j in config["scrape_configs"] if "kubernetes_sd_configs" in j]
    # Our series never name a label `job` or `instance` (the label sweep holds them to that), so
    # the targets need not be trusted to set Prometheus's own.
    assert not job.get("honor_labels", False)
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["phoenix"]}}]
    keeps = _keeps(job)
    part_of = keeps["__meta_kubernetes_pod_label_app_kubernetes_io_part_of"]
    port_name = keeps["__meta_kubernetes_pod_container_port_name"]
    pods = _role_pods()
    assert set(pods) == set(ROLES)
    for role, pod in pods.items():
        labels = pod["metadata"]["labels"]
        assert re.fullmatch(part_of, labels["app.kubernetes.io/part-of"]), role
        assert labels["app.kubernetes.io/component"] == role, role
        ports = {
            port["name"]: port["containerPort"]
            for container in pod["spec"]["containers"]
            for port in container.get("ports", [])
        }
        matched = [name for name in ports if re.fullmatch(port_name, name)]
        assert matched == ["ops"], f"{role}: ports kept {matched}"
        assert ports["ops"] == DEFAULT_OPS_PORTS[role], role
        # Nothing else of the pod's may be scraped: its public port is not kept.
        assert not [n for n in ports if n != "ops" and re.fullmatch(port_name, n)], role
    (relabel,) = [r for r in job["relabel_configs"] if r.get("target_label") == "job"]
    assert relabel["replacement"] == "phoenix-$1"


# ---- alerts, runbooks, series -------------------------------------------------------------


def test_every_alert_fires_in_one_case_and_stays_quiet_in_another(rules: Doc, tests: Doc) -> None:
    assert alerts_of(rules), "rules.yml has no alert"
    assert alert_coverage_problems(rules, tests) == []


def test_an_alert_without_a_quiet_case_is_caught(rules: Doc, tests: Doc) -> None:
    planted = copy.deepcopy(tests)
    for case in planted["tests"]:
        case["alert_rule_test"] = [
            check
            for check in case.get("alert_rule_test", [])
            if check["alertname"] != "CensusStale" or check.get("exp_alerts")
        ]
    assert alert_coverage_problems(rules, planted) == ["CensusStale: no case where it stays quiet"]
    extra = copy.deepcopy(rules)
    extra["groups"][1]["rules"].append({"alert": "Untested", "expr": "vector(1)"})
    assert alert_coverage_problems(extra, tests) == [
        "Untested: no case where it fires",
        "Untested: no case where it stays quiet",
    ]


def test_every_alert_has_a_severity_a_summary_and_its_runbook_section(rules: Doc) -> None:
    assert annotation_problems(rules, RUNBOOKS.read_text(encoding="utf-8")) == []


def test_a_runbook_link_without_its_heading_is_caught(rules: Doc) -> None:
    planted = copy.deepcopy(rules)
    alert = alerts_of(planted)["TargetDown"]
    alert["annotations"]["runbook_url"] = "docs/runbooks.md#no-such-section"
    del alert["labels"]["severity"]
    assert annotation_problems(planted, RUNBOOKS.read_text(encoding="utf-8")) == [
        "TargetDown: severity None, not one of " + str(SEVERITIES),
        "TargetDown: no heading in docs/runbooks.md has the anchor of "
        "docs/runbooks.md#no-such-section",
    ]


def test_runbook_anchors_are_githubs() -> None:
    text = "# Runbooks\n## Redis lost\n```\n# not a heading\n```\n## Redis lost\n### Key: day (1)\n"
    assert runbook_anchors(text) == {"runbooks", "redis-lost", "redis-lost-1", "key-day-1"}


def test_every_series_a_rule_reads_is_documented_and_exported(rules: Doc) -> None:
    """Fails while the code does not yet export a series of the contract: the message names it."""
    problems = metric_problems(
        rules, metric_names.documented_names(), metric_names.exported_samples()
    )
    assert problems == []


def test_a_series_neither_documented_nor_exported_is_caught(rules: Doc) -> None:
    planted = copy.deepcopy(rules)
    planted["groups"][0]["rules"].append(
        {
            "record": "phoenix:planted:rate5m",
            "expr": 'sum(rate(phoenix_config_connects_total{app_name="phoenix_config"}[5m]))'
            " / location:phoenix_config_missing:max"
            " + sum(rate(phoenix_request_duration_seconds_bucket[5m]))",
        }
    )
    assert metric_problems(
        planted, metric_names.documented_names(), metric_names.exported_samples()
    ) == [
        "phoenix:planted:rate5m: reads the recording rule location:phoenix_config_missing:max,"
        " which rules.yml lacks",
        "phoenix_config_connects_total (read by phoenix:planted:rate5m): not in docs/metrics.md",
        "phoenix_config_connects_total (read by phoenix:planted:rate5m): the code exports no"
        " such series",
    ]


def test_the_scanner_reads_names_as_prometheus_client_exports_them(tmp_path: Path) -> None:
    source = tmp_path / "metrics.py"
    source.write_text(
        "from prometheus_client import Counter, Gauge, Histogram, Info, Summary\n"
        "import prometheus_client\n"
        "A = Counter('a_things', 'h')\n"
        "B = Counter('b_things_total', 'h')\n"
        "C = Histogram('c_seconds', 'h')\n"
        "D = prometheus_client.Gauge(name='d', documentation='h', namespace='ns')\n"
        "E = Info('e', 'h')\n"
        "F = Summary('f_seconds', 'h')\n"
        "G = Gauge(f'{A}', 'h')  # not a literal: not a name the contract can hold\n",
        encoding="utf-8",
    )
    assert metric_names.exported_samples([tmp_path]) == {
        "a_things_total",
        "b_things_total",
        "c_seconds_bucket",
        "c_seconds_sum",
        "c_seconds_count",
        "ns_d",
        "e_info",
        "f_seconds_sum",
        "f_seconds_count",
    }
