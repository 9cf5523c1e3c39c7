"""`make daemon-binary`: one executable file (PyInstaller --onefile) that runs phoenix-node and
holds no server code. The end-to-end test runs the same binary through the data plane."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.binary import build, packages

REPO = Path(__file__).resolve().parents[2]


def test_the_daemon_builds_into_one_runnable_file() -> None:
    binary = build()
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("phoenix-node ")
    inside = packages(binary)
    assert "phoenix_node" in inside
    assert "phoenix" not in inside  # the server distribution never ships to a node


def test_the_binary_renders_the_shipped_deploy_files() -> None:
    binary = build()
    for command, shipped in (
        ("nftables", REPO / "daemon/deploy/nftables.conf"),
        ("sysctl", REPO / "daemon/deploy/sysctl.d/99-phoenix.conf"),
    ):
        rendered = subprocess.run(
            [str(binary), "render", command], capture_output=True, text=True, check=True
        )
        assert rendered.stdout == shipped.read_text()


def test_the_binary_refuses_a_bad_setting_with_one_line() -> None:
    done = subprocess.run(
        [str(build())], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "phoenix-node: PHOENIX_NODE_API_URL: missing (required)"
