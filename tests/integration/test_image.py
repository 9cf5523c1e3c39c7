"""The container image, built by scripts/build-image.sh (what `make image` runs), run with podman.

The first build on a machine also makes the debootstrap base (a few minutes); later builds reuse
podman's layer cache and take seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("PHOENIX_IMAGE", "localhost/phoenix:dev")
# The report builds the config app; it never connects, so any well-formed URL will do.
CONFIG_ENV = {"PHOENIX_ENV": "test", "PHOENIX_NODEDB_URL": "postgresql://x@127.0.0.1/phoenix_nodes"}
IDENTITY = {"firebase_admin", "stripe", "appstoreserverlibrary"}
# A C toolchain: none of it may reach the final stage.
COMPILERS = ["gcc", "cc", "c++", "g++", "clang", "tcc", "as", "ld", "x86_64-linux-gnu-gcc"]


@pytest.fixture(scope="module")
def image() -> str:
    require("podman", shutil.which("podman") is not None, "Debian package podman, `make deps`")
    require(
        "root",
        os.geteuid() == 0,
        "the image build runs debootstrap and writes /etc/containers/containers.conf",
    )
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-image.sh")],
        cwd=ROOT,
        env={**os.environ, "PHOENIX_IMAGE": IMAGE},
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-60:])
        pytest.fail(f"scripts/build-image.sh exited {result.returncode}:\n{tail}")
    return IMAGE


def podman_run(
    image: str,
    *args: str,
    entrypoint: str | None = None,
    env: dict[str, str] | None = None,
    network: str = "none",
) -> subprocess.CompletedProcess[str]:
    # --network none unless a test needs more: it also proves the command does not connect.
    command = ["podman", "run", "--rm", "--network", network]
    if entrypoint is not None:
        command += ["--entrypoint", entrypoint]
    for name, value in (env or {}).items():
        command += ["--env", f"{name}={value}"]
    return subprocess.run(
        [*command, image, *args], capture_output=True, text=True, timeout=120, check=False
    )


def image_config(image: str) -> dict[str, Any]:
    result = subprocess.run(
        ["podman", "image", "inspect", image],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    config: dict[str, Any] = json.loads(result.stdout)[0]["Config"]
    return config


def test_the_config_role_in_the_image_loads_no_identity_code(image: str) -> None:
    result = podman_run(
        image, "boundary-report", "--role", "config", entrypoint="phoenix", env=CONFIG_ENV
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["role"] == "config"
    assert "phoenix.config.app" in report["phoenix_modules"]  # the app really was built
    leaked = [m for m in report["phoenix_modules"] if m.split(".")[:2] == ["phoenix", "auth"]]
    assert not leaked
    assert not IDENTITY & set(report["third_party"])


def test_the_image_runs_as_a_non_root_user(image: str) -> None:
    result = podman_run(image, "-u", entrypoint="id")
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) != 0
    group = podman_run(image, "-g", entrypoint="id")
    assert int(group.stdout) != 0


def test_the_final_stage_has_no_compiler(image: str) -> None:
    probe = (
        "import glob, json, shutil, sys;"
        "found = [shutil.which(n) for n in sys.argv[1:]];"
        "found += glob.glob('/usr/bin/*-gcc*') + glob.glob('/usr/lib/gcc/*/*/cc1');"
        "print(json.dumps(sorted(f for f in found if f)))"
    )
    result = podman_run(image, "-c", probe, *COMPILERS, entrypoint="python3")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_the_entry_point_serves_the_role_named_by_phoenix_role(image: str) -> None:
    config = image_config(image)
    assert config["Entrypoint"] == ["phoenix", "serve"]
    assert "PHOENIX_ALEMBIC_CONFIG=/app/alembic.ini" in config["Env"]
    assert not [e for e in config["Env"] if e.startswith("PIP_")]  # no build-host settings

    # Without a role, serve stops at once naming PHOENIX_ROLE ...
    missing = podman_run(image)
    assert missing.returncode == 2
    assert "PHOENIX_ROLE" in missing.stderr
    # ... and with PHOENIX_ROLE=config it goes on to config's own settings (and stops there:
    # no NodeDB URL), which proves the role came from the environment.
    from_env = podman_run(image, env={"PHOENIX_ROLE": "config"})
    assert from_env.returncode == 2
    assert "PHOENIX_NODEDB_URL" in from_env.stderr


def test_migrate_runs_in_the_image(image: str, database_name_factory: Callable[[str], str]) -> None:
    # alembic.ini and alembic/ must be in the image, found through PHOENIX_ALEMBIC_CONFIG.
    url = database_name_factory("image")
    result = podman_run(
        image,
        "migrate",
        "--db",
        "nodedb",
        entrypoint="phoenix",
        env={"PHOENIX_NODEDB_URL": url},
        network="host",  # the test's Postgres listens on the host's loopback
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["result"] == "created and migrated"
