"""The Prometheus config `make dev` writes: valid for promtool, every role and the node scraped
under the job names the production rules expect, the production rules loaded."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from phoenix.app import DEFAULT_OPS_PORTS
from phoenix.dev.prometheus import RULES, scrape_config
from tests.conftest import require


def targets(config: dict[str, object]) -> dict[str, list[str]]:
    jobs = config["scrape_configs"]
    assert isinstance(jobs, list)
    return {
        job["job_name"]: [t for c in job["static_configs"] for t in c["targets"]] for job in jobs
    }


def test_every_role_and_the_node_are_scraped_under_production_job_names() -> None:
    assert targets(scrape_config(with_node=True)) == {
        "phoenix-auth": [f"127.0.0.1:{DEFAULT_OPS_PORTS['auth']}"],
        "phoenix-config": [f"127.0.0.1:{DEFAULT_OPS_PORTS['config']}"],
        "phoenix-analytics": [f"127.0.0.1:{DEFAULT_OPS_PORTS['analytics']}"],
        "phoenix-worker": [f"127.0.0.1:{DEFAULT_OPS_PORTS['worker']}"],
        "phoenix-node": ["127.0.0.1:9586"],
    }
    assert "phoenix-node" not in targets(scrape_config(with_node=False))


def test_promtool_accepts_the_config_and_the_rules_it_loads(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    require("promtool", promtool is not None, "apt-get install prometheus (make deps does)")
    assert promtool is not None
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps(scrape_config(with_node=True)))
    done = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert str(RULES) in done.stdout  # the rules were found and checked too
