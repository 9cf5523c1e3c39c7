"""The privacy boundaries can fail: a forbidden import planted in a copy of the tree breaks
exactly the contract that forbids it (and the untouched copy keeps every contract)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# (contract name as printed by lint-imports, file to plant in, the forbidden import)
PLANTS = [
    (
        "config, analytics and worker never import auth",
        "src/phoenix/config/app.py",
        "import phoenix.auth.models",
    ),
    (
        "config, analytics and worker never import auth",
        "src/phoenix/analytics/app.py",
        "import firebase_admin",
    ),
    (
        "config, analytics and worker never import auth",
        "src/phoenix/worker/app.py",
        "import stripe",
    ),
    (
        "config, analytics and worker never import auth",
        "src/phoenix/config/settings.py",
        "import appstoreserverlibrary",
    ),
    ("auth never imports config, analytics, worker", "src/phoenix/auth/app.py", "import pyroute2"),
    (
        "auth never imports config, analytics, worker",
        "src/phoenix/auth/models.py",
        "import nftables",
    ),
    (
        "auth never imports config, analytics, worker",
        "src/phoenix/auth/app.py",
        "import phoenix.config.models",
    ),
    (
        "analytics imports neither config nor any SQL",
        "src/phoenix/analytics/app.py",
        "import sqlalchemy",
    ),
    (
        "analytics imports neither config nor any SQL",
        "src/phoenix/analytics/settings.py",
        "import phoenix.common.database",
    ),
    (
        "worker imports no SQL or ClickHouse driver",
        "src/phoenix/worker/broker.py",
        "import psycopg",
    ),
    (
        "entry points above roles above the shared kernel",
        "src/phoenix/worker/app.py",
        "import phoenix.analytics.app",
    ),
    (
        "entry points above roles above the shared kernel",
        "src/phoenix/config/app.py",
        "import phoenix.cli",
    ),
    (
        "common and crypto import no role",
        "src/phoenix/common/health.py",
        "import phoenix.worker.settings",
    ),
    (
        "common and crypto import no role",
        "src/phoenix/crypto/wireguard.py",
        "import phoenix.config",
    ),
    (
        "the client imports phoenix.crypto only",
        "src/phoenix/client/tunnel.py",
        "import phoenix.config.wgconfig",
    ),
    ("the client imports phoenix.crypto only", "src/phoenix/client/wallet.py", "import redis"),
    (
        "entry points above roles above the shared kernel",
        "src/phoenix/config/wgconfig.py",
        "import phoenix.client.tunnel",
    ),
    (
        "no role imports the development tooling",
        "src/phoenix/worker/app.py",
        "import phoenix.dev.environment",
    ),
    (
        "no role imports the development tooling",
        "src/phoenix/production.py",
        "import phoenix.dev.launcher",
    ),
    ("crypto imports no web framework", "src/phoenix/crypto/wireguard.py", "import litestar"),
    ("crypto imports no web framework", "src/phoenix/crypto/wireguard.py", "import redis"),
    (
        "phoenix_node and phoenix never import each other",
        "daemon/src/phoenix_node/cli.py",
        "import phoenix.crypto",
    ),
    (
        "phoenix_node and phoenix never import each other",
        "src/phoenix/server.py",
        "import phoenix_node",
    ),
]


def _copy_tree(destination: Path) -> Path:
    root = destination / "repo"
    for part in ("src", "daemon/src"):
        shutil.copytree(
            REPO / part, root / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    shutil.copy(REPO / "importlinter.ini", root / "importlinter.ini")
    return root


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, so import-linter analyses it rather than the checkout.
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root / 'daemon/src'}"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "importlinter.ini"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_untouched_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_contract_has_a_planted_violation() -> None:
    config = (REPO / "importlinter.ini").read_text()
    names = [
        line.split("=", 1)[1].strip() for line in config.splitlines() if line.startswith("name =")
    ]
    planted = {contract for contract, _, _ in PLANTS}
    assert all(any(name.startswith(prefix) for prefix in planted) for name in names), names


@pytest.mark.parametrize(
    ("contract", "path", "line"), PLANTS, ids=[f"{path}:{line}" for _, path, line in PLANTS]
)
def test_a_planted_forbidden_import_fails_lint_imports(
    tmp_path: Path, contract: str, path: str, line: str
) -> None:
    root = _copy_tree(tmp_path)
    target = root / path
    target.write_text(target.read_text() + f"\n{line}  # planted by the test\n")
    result = _lint(root)
    assert result.returncode != 0, result.stdout
    joined = " ".join(result.stdout.split())  # lint-imports wraps long names
    # The named contract's own status, not another contract's, must read BROKEN.
    assert re.search(re.escape(contract) + r"(?:(?!KEPT).)*?BROKEN", joined), result.stdout
    assert line.split()[-1] in result.stdout
