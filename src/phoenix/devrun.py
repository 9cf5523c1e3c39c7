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
from types import FrameType
from typing import Final

from phoenix.app import DEFAULT_PORTS, ROLES

DEV_ENV: Final = {
    "PHOENIX_ENV": "dev",
    "PHOENIX_LOG_LEVEL": "info",
    "PHOENIX_USERDB_URL": "postgresql://postgres@127.0.0.1:5432/phoenix_users",
    "PHOENIX_NODEDB_URL": "postgresql://postgres@127.0.0.1:5432/phoenix_nodes",
    "PHOENIX_REDIS_URL": "redis://127.0.0.1:6379/0",
    "PHOENIX_BROKER": "redis",
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
    for database in ("userdb", "nodedb"):
        subprocess.run(
            [sys.executable, "-m", "phoenix", "migrate", "--db", database],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    processes = {
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
        for process in processes.values():
            try:
                process.wait(40)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


def _summary() -> None:
    lines = ["", "Phoenix is running (Ctrl-C stops everything):"]
    for role in ROLES:
        url = f"http://127.0.0.1:{DEFAULT_PORTS[role]}"
        lines.append(f"  {role:<10} {url}  (/healthz /readyz /metrics /schema/openapi.json)")
    print("\n".join(lines), flush=True)
