"""The role images, built once per test session by scripts/build-image.sh (`make images`).

The first build on a machine also makes the debootstrap base and downloads every role's locked
dependencies (a few minutes); later builds reuse podman's layer cache and take seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("auth", "config", "analytics", "worker")
PREFIX = os.environ.get("PHOENIX_IMAGE_PREFIX", "localhost/phoenix")
TAG = os.environ.get("PHOENIX_IMAGE_TAG", "dev")


@cache
def _build_all() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-image.sh"), *ROLES],
        cwd=ROOT,
        env={**os.environ, "PHOENIX_IMAGE_PREFIX": PREFIX, "PHOENIX_IMAGE_TAG": TAG},
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-60:])
        pytest.fail(f"scripts/build-image.sh exited {result.returncode}:\n{tail}")


def role_image(role: str) -> str:
    """The role's image name, built (all four at once, the first time) if need be."""
    require("podman", shutil.which("podman") is not None, "Debian package podman, `make deps`")
    require(
        "root",
        os.geteuid() == 0,
        "the image build runs debootstrap and writes /etc/containers/containers.conf",
    )
    _build_all()
    return f"{PREFIX}-{role}:{TAG}"
