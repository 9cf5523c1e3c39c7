"""The phoenix-node binary, built once per test session by scripts/build-daemon-binary.sh."""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@functools.cache
def build() -> Path:
    binary = Path(tempfile.mkdtemp(prefix="phoenix-node-bin-")) / "phoenix-node"
    subprocess.run(
        [str(REPO / "scripts/build-daemon-binary.sh"), str(binary)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return binary


def packages(binary: Path) -> set[str]:
    """Top-level Python packages frozen into the binary's archive."""
    from PyInstaller.archive.readers import CArchiveReader

    archive = CArchiveReader(str(binary))
    pyz = archive.open_embedded_archive("PYZ.pyz")
    return {name.split(".")[0] for name in pyz.toc}
