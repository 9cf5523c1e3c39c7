"""The role images (one Containerfile, a target per role), built by scripts/build-image.sh.

Each image holds its role's code and its role's locked dependencies only, runs as a non-root
user with a read-only root filesystem, reports its health, and migrates its own database.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from phoenix.dev.probes import free_port
from tests.harness import issuer
from tests.images import ROLES, role_image
from tests.unit.test_role_extras import role_packages

pytestmark = [pytest.mark.slow, pytest.mark.needs_root, pytest.mark.timeout(1800)]

# MB an image may add to its base (debootstrap bookworm here, python:3.11-slim in production),
# measured on 2026-12-06 with ~10 % room: auth 251, config 187, analytics 109, worker 146. The
# single image these replace added about 1,000 MB (the embedded analytics engine alone ~900).
CEILING_ABOVE_BASE_MB = {"auth": 280, "config": 210, "analytics": 125, "worker": 165}
BASE = "localhost/phoenix-base:bookworm"
IDENTITY = {"firebase_admin", "stripe", "appstoreserverlibrary"}
# The report builds the app; it never connects, so well-formed URLs do.
REPORT_ENV = {
    "PHOENIX_ENV": "test",
    "PHOENIX_NODEDB_URL": "postgresql://x@127.0.0.1/phoenix_nodes",
    "PHOENIX_USERDB_URL": "postgresql://x@127.0.0.1/phoenix_users",
    "PHOENIX_ISSUER_SIGNING_KEYS": issuer.bundle(),
    "PHOENIX_FIREBASE_PROJECT_ID": "demo-phoenix",
    "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9",
    "PHOENIX_CLICKHOUSE_URL": "clickhouse://default@127.0.0.1:9000/phoenix",
}
COMPILERS = ["gcc", "cc", "c++", "g++", "clang", "tcc", "as", "ld", "x86_64-linux-gnu-gcc"]
SITE = "/opt/venv/lib/python3.11/site-packages"


def podman_run(
    image: str,
    *args: str,
    entrypoint: str | None = None,
    env: dict[str, str] | None = None,
    network: str = "none",
) -> subprocess.CompletedProcess[str]:
    # --network none unless a test needs more: it also proves the command does not connect.
    # --no-healthcheck: podman would try to schedule the image's HEALTHCHECK through systemd.
    command = ["podman", "run", "--rm", "--no-healthcheck", "--network", network]
    if entrypoint is not None:
        command += ["--entrypoint", entrypoint]
    for name, value in (env or {}).items():
        command += ["--env", f"{name}={value}"]
    return subprocess.run(
        [*command, image, *args], capture_output=True, text=True, timeout=120, check=False
    )


def python_in(image: str, code: str, *args: str) -> Any:
    result = podman_run(image, "-c", code, *args, entrypoint="python3")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def inspect(image: str) -> dict[str, Any]:
    result = subprocess.run(
        ["podman", "image", "inspect", image],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found: dict[str, Any] = json.loads(result.stdout)[0]
    return found


@pytest.fixture(scope="module", params=ROLES)
def role(request: pytest.FixtureRequest) -> str:
    role_image(request.param)
    return str(request.param)


def test_each_image_stays_under_its_size_ceiling(role: str) -> None:
    added = (inspect(role_image(role))["Size"] - inspect(BASE)["Size"]) / 1e6
    print(f"{role}: {added:.0f} MB above the base")  # the closing note's figures
    assert added <= CEILING_ABOVE_BASE_MB[role]


def test_each_image_holds_only_its_roles_code(role: str) -> None:
    packages = python_in(
        role_image(role),
        "import json, os, sys; d = sys.argv[1];"
        "print(json.dumps(sorted(n.removesuffix('.py') for n in os.listdir(d)"
        " if n not in ('__pycache__', '__init__.py', '__main__.py', 'cli.py', 'boundary.py',"
        " 'migrations.py'))))",
        f"{SITE}/phoenix",
    )
    assert set(packages) == role_packages(role)


def test_the_boundary_report_in_each_image_shows_only_its_role(role: str) -> None:
    result = podman_run(
        role_image(role), "boundary-report", "--role", role, entrypoint="phoenix", env=REPORT_ENV
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert f"phoenix.{role}.app" in report["phoenix_modules"]  # the app really was built
    roles_loaded = {m.split(".")[1] for m in report["phoenix_modules"] if m.count(".")} & set(ROLES)
    assert roles_loaded == {role}
    if role != "auth":
        assert not IDENTITY & set(report["third_party"])


def test_the_config_image_does_not_even_contain_identity_or_payment_libraries() -> None:
    found = python_in(
        role_image("config"),
        "import importlib.util, json, sys;"
        "print(json.dumps([n for n in sys.argv[1:] if importlib.util.find_spec(n)]))",
        *sorted(IDENTITY),
    )
    assert found == []
    # The probe itself finds them where they are.
    assert sorted(
        python_in(
            role_image("auth"),
            "import importlib.util, json, sys;"
            "print(json.dumps([n for n in sys.argv[1:] if importlib.util.find_spec(n)]))",
            *sorted(IDENTITY),
        )
    ) == sorted(IDENTITY)


def test_no_image_carries_the_embedded_engine_or_build_tools(role: str) -> None:
    probe = (
        "import glob, importlib.util, json, os, shutil, sys;"
        "found = [shutil.which(n) for n in sys.argv[1:]];"
        "found += glob.glob('/usr/bin/*-gcc*') + glob.glob('/usr/lib/gcc/*/*/cc1');"
        "found += [m for m in ('chdb', 'pip', 'uv', 'hatchling', 'pytest')"
        " if importlib.util.find_spec(m)];"
        "found += [p for p in ('/opt/tools', '/src', '/overlay') if os.path.exists(p)];"
        "print(json.dumps(sorted(f for f in found if f)))"
    )
    assert python_in(role_image(role), probe, *COMPILERS, "pip", "uv") == []


def test_each_image_runs_as_a_non_root_user_and_serves_its_role(role: str) -> None:
    image = role_image(role)
    assert podman_run(image, "-u", entrypoint="id").stdout.strip() == "10001"
    assert podman_run(image, "-g", entrypoint="id").stdout.strip() == "10001"
    config = inspect(image)["Config"]
    assert config["Entrypoint"] == ["phoenix", "serve"]
    assert f"PHOENIX_ROLE={role}" in config["Env"]
    assert not [e for e in config["Env"] if e.startswith(("PIP_", "UV_"))]  # no build settings
    assert inspect(image)["Healthcheck"]["Test"] == ["CMD", "phoenix", "health"]


def test_the_analytics_image_without_a_clickhouse_url_stops_naming_the_setting() -> None:
    # The image has no embedded engine: it says so at start, not with a 503 forever after.
    result = podman_run(role_image("analytics"), env={"PHOENIX_ENV": "test"})
    assert result.returncode == 2
    assert "PHOENIX_CLICKHOUSE_URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("role_name", "db"), [("config", "nodedb"), ("auth", "userdb")])
def test_each_database_migrates_from_its_roles_image(
    role_name: str, db: str, database_name_factory: Callable[[str], str]
) -> None:
    url = database_name_factory("image")
    result = podman_run(
        role_image(role_name),
        "migrate",
        "--db",
        db,
        entrypoint="phoenix",
        env={f"PHOENIX_{db.upper()}_URL": url},
        network="host",  # the test's Postgres listens on the host's loopback
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["result"] == "created and migrated"


@pytest.fixture
def read_only_config(
    database_name_factory: Callable[[str], str], redis_url: str
) -> Iterator[tuple[str, int]]:
    url = database_name_factory("image_ro")
    image = role_image("config")
    migrated = podman_run(
        image, "migrate", "--db", "nodedb", entrypoint="phoenix",
        env={"PHOENIX_NODEDB_URL": url}, network="host",
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr
    name, port = f"phoenix-ro-{uuid.uuid4().hex[:8]}", free_port()
    # --read-only with no tmpfs at all: nothing may be written anywhere but the sockets.
    started = subprocess.run(
        ["podman", "run", "-d", "--name", name, "--no-healthcheck", "--read-only",
         "--read-only-tmpfs=false", "--network", "host",
         "--env", "PHOENIX_ENV=test", "--env", f"PHOENIX_NODEDB_URL={url}",
         "--env", f"PHOENIX_REDIS_URL={redis_url}", "--env", "PHOENIX_OPS_PORT=0",
         "--env", "PHOENIX_HOST=127.0.0.1", image, "--port", str(port)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        yield name, port
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "5", name], capture_output=True, timeout=60)


def test_the_config_image_serves_from_a_read_only_root_and_reports_healthy(
    read_only_config: tuple[str, int],
) -> None:
    name, port = read_only_config
    deadline = time.monotonic() + 60
    status = None
    while time.monotonic() < deadline:
        try:
            status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code
            if status == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    logs = subprocess.run(["podman", "logs", name], capture_output=True, text=True, timeout=30)
    assert status == 200, logs.stdout + logs.stderr
    # The image's HEALTHCHECK command, run in the container, agrees ...
    health = subprocess.run(
        ["podman", "exec", name, "phoenix", "health", "--port", str(port)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert health.returncode == 0, health.stderr
    # ... and reports a port nothing answers on as unhealthy.
    dead = subprocess.run(
        ["podman", "exec", name, "phoenix", "health", "--port", str(free_port())],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert dead.returncode == 1
    assert "healthz" in dead.stderr
