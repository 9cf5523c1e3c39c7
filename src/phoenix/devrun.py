"""`phoenix dev up` (what `make dev` runs): every role on its development port, in the foreground.

Each role is its own `phoenix serve` process, exactly as in production, so the boundaries hold
here too. Local servers are used where configured or found at their default addresses. Ctrl-C
or SIGTERM stops every process this started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Final

from phoenix.app import DEFAULT_PORTS, ROLES

REPO: Final = Path(__file__).resolve().parents[2]
STATE: Final = REPO / ".dev"
FIREBASE: Final = REPO / "node_modules" / ".bin" / "firebase"
EMULATOR_PORT: Final = 9099

DEV_ENV: Final = {
    "PHOENIX_ENV": "dev",
    "PHOENIX_LOG_LEVEL": "info",
    "PHOENIX_USERDB_URL": "postgresql://postgres@127.0.0.1:5432/phoenix_users",
    "PHOENIX_NODEDB_URL": "postgresql://postgres@127.0.0.1:5432/phoenix_nodes",
    "PHOENIX_REDIS_URL": "redis://127.0.0.1:6379/0",
    "PHOENIX_BROKER": "redis",
    "PHOENIX_ISSUER_SIGNING_KEYS_FILE": str(STATE / "issuer-keys.pem"),
    "PHOENIX_FIREBASE_PROJECT_ID": "demo-phoenix",
    "FIREBASE_AUTH_EMULATOR_HOST": f"127.0.0.1:{EMULATOR_PORT}",
    # Development-only credentials (never used outside PHOENIX_ENV=dev).
    "PHOENIX_NODE_TOKENS": "dev-node-token-0123456789abcdef0123456789",
    "PHOENIX_MONITOR_TOKEN": "dev-monitor-token-0123456789abcdef012345",
    # Analytics on the embedded engine (chDB) unless PHOENIX_CLICKHOUSE_URL names a server.
    "PHOENIX_CHDB_PATH": str(STATE / "analytics-chdb"),
    "PHOENIX_OPERATOR_TOKEN": "dev-operator-token-0123456789abcdef01234",
    # The worker publishes the blocklist into .dev/blocklist and serves it at :8084/blocklist/;
    # the manifest key is a fixed development seed (base64 of 32 bytes), never a production one.
    "PHOENIX_BLOCKLIST_TARGET": f"file://{STATE / 'blocklist'}",
    "PHOENIX_BLOCKLIST_SIGNING_KEY": "ZGV2LW9ubHktYmxvY2tsaXN0LXNpZ25pbmctc2VlZCE=",
    "PHOENIX_ANALYTICS_URL": "http://127.0.0.1:8083",
}


class DevError(Exception):
    pass


def environment(base: Mapping[str, str]) -> dict[str, str]:
    """Development defaults, overridden by whatever the caller already set."""
    return {**DEV_ENV, **base}


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 1):
            return True
    except OSError:
        return False


def preflight(env: Mapping[str, str]) -> None:
    for role in ROLES:
        if not _port_free(DEFAULT_PORTS[role]):
            raise DevError(f"port {DEFAULT_PORTS[role]} ({role}) is in use: stop what holds it")
    if not _port_free(EMULATOR_PORT):
        raise DevError(
            f"port {EMULATOR_PORT} (Firebase Auth emulator) is in use: stop what holds it"
        )
    if not FIREBASE.exists():
        raise DevError(
            "the Firebase Auth emulator is not installed: run `make dev` (it runs npm ci)"
        )
    if not _reachable(5432) and "127.0.0.1:5432" in env["PHOENIX_USERDB_URL"]:
        raise DevError(
            "no PostgreSQL on 127.0.0.1:5432: run `make dev` (it starts one) "
            "or set PHOENIX_USERDB_URL"
        )
    if not _reachable(6379) and "127.0.0.1:6379" in env["PHOENIX_REDIS_URL"]:
        raise DevError(
            "no Redis on 127.0.0.1:6379: run `make dev` (it starts one) or set PHOENIX_REDIS_URL"
        )


def up() -> int:
    env = environment(os.environ)
    preflight(env)
    keys = Path(env["PHOENIX_ISSUER_SIGNING_KEYS_FILE"])
    if "PHOENIX_ISSUER_SIGNING_KEYS" not in env and not keys.exists():
        subprocess.run(
            [sys.executable, "-m", "phoenix", "issuer", "keygen", "--out", str(keys)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    emulator = _start_emulator()
    STATE.mkdir(exist_ok=True)
    for database in ("userdb", "nodedb", "analytics"):
        subprocess.run(
            [sys.executable, "-m", "phoenix", "migrate", "--db", database],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    processes = {"firebase-emulator": emulator} | {
        role: subprocess.Popen([sys.executable, "-m", "phoenix", "serve", "--role", role], env=env)
        for role in ROLES
    }
    stopping = False

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    _summary()
    try:
        while not stopping:
            for role, process in processes.items():
                if process.poll() is not None:
                    print(
                        f"phoenix dev: {role} exited with {process.returncode}; stopping",
                        file=sys.stderr,
                    )
                    stopping = True
            time.sleep(0.5)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        if emulator.poll() is None:
            os.killpg(emulator.pid, signal.SIGTERM)  # the emulator's node children too
        for process in processes.values():
            try:
                process.wait(40)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


def _start_emulator() -> subprocess.Popen[bytes]:
    STATE.mkdir(exist_ok=True)
    log = (STATE / "firebase-emulator.log").open("wb")
    process = subprocess.Popen(
        [
            str(FIREBASE),
            "emulators:start",
            "--only",
            "auth",
            "--project",
            "demo-phoenix",
            "--config",
            str(REPO / "firebase.json"),
        ],
        cwd=STATE,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "CI": "true", "NO_UPDATE_NOTIFIER": "1"},
    )
    deadline = time.monotonic() + 60
    while not _reachable(EMULATOR_PORT):
        if process.poll() is not None or time.monotonic() > deadline:
            raise DevError(
                f"the Firebase Auth emulator did not start: see {STATE}/firebase-emulator.log"
            )
        time.sleep(0.3)
    return process


def _summary() -> None:
    lines = ["", "Phoenix is running (Ctrl-C stops everything):"]
    for role in ROLES:
        url = f"http://127.0.0.1:{DEFAULT_PORTS[role]}"
        lines.append(f"  {role:<10} {url}  (/healthz /readyz /metrics /schema/openapi.json)")
    lines.append(
        f"  firebase   http://127.0.0.1:{EMULATOR_PORT}  (Auth emulator, project demo-phoenix)"
    )
    lines.append(
        f"  blocklist  http://127.0.0.1:{DEFAULT_PORTS['worker']}/blocklist/base/manifest.json"
    )
    lines.append(
        "  grant a user a subscription: PHOENIX_ENV=dev .venv/bin/phoenix dev grant --email E"
    )
    lines.append(
        f"  analytics page: http://operator:{DEV_ENV['PHOENIX_OPERATOR_TOKEN']}@127.0.0.1:"
        f"{DEFAULT_PORTS['analytics']}/reports"
    )
    print("\n".join(lines), flush=True)
