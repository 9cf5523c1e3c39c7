"""Prometheus for `make dev`: Debian's `prometheus`, scraping every role's ops port and the local
exit node's metrics, with the production rules (deploy/prometheus/rules.yml) loaded, so an alert
can be watched firing here. On by default when the binary is installed; `make dev
PROMETHEUS=no` (`phoenix dev up --no-prometheus`) leaves it out."""

from __future__ import annotations

import json
import os
import shutil
from typing import Final

from phoenix.app import DEFAULT_OPS_PORTS, ROLES
from phoenix.dev.launcher import Process
from phoenix.dev.local_node import NODE_LOCATION, NODE_METRICS_PORT
from phoenix.dev.paths import REPO, STATE

PROMETHEUS_PORT: Final = 9090
RULES: Final = REPO / "deploy" / "prometheus" / "rules.yml"
SCRAPE_SECONDS: Final = 5  # a newcomer sees a change within seconds, not a minute


def binary() -> str | None:
    return shutil.which("prometheus")


def scrape_config(with_node: bool) -> dict[str, object]:
    """Jobs named as in production (phoenix-<role>, phoenix-node), so the rules apply as they are.

    JSON is YAML: no YAML writer needed."""
    jobs: list[dict[str, object]] = [
        {
            "job_name": f"phoenix-{role}",
            "static_configs": [{"targets": [f"127.0.0.1:{DEFAULT_OPS_PORTS[role]}"]}],
        }
        for role in ROLES
    ]
    if with_node:
        jobs.append(
            {
                "job_name": "phoenix-node",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{NODE_METRICS_PORT}"],
                        "labels": {"location": NODE_LOCATION},
                    }
                ],
            }
        )
    return {
        "global": {
            "scrape_interval": f"{SCRAPE_SECONDS}s",
            "evaluation_interval": f"{SCRAPE_SECONDS}s",
        },
        "rule_files": [str(RULES)],
        "scrape_configs": jobs,
    }


def start(prometheus: str, with_node: bool) -> Process:
    """Its config, data and log under .dev; listening on loopback only."""
    STATE.mkdir(exist_ok=True)
    config = STATE / "prometheus.yml"
    config.write_text(json.dumps(scrape_config(with_node), indent=2))
    return Process(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={STATE / 'prometheus'}",
            "--storage.tsdb.retention.time=2d",
            f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
        ],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        log=STATE / "prometheus.log",
        die_with_parent=True,
    )
