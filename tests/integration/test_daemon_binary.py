"""`make daemon-binary`: one executable file that runs phoenix-node and holds no server code."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_daemon_builds_into_one_runnable_file(tmp_path: Path) -> None:
    binary = tmp_path / "phoenix-node"
    subprocess.run(
        [str(REPO / "scripts/build-daemon-binary.sh"), str(binary)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("phoenix-node ")
    names = zipfile.ZipFile(binary).namelist()
    assert any(name.startswith("phoenix_node/") for name in names)
    assert not any(name.startswith("phoenix/") for name in names)
