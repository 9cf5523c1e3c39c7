"""`phoenix dev up` (what `make dev` runs): every role on its development port, in the foreground.

Each role is its own `phoenix serve` process, exactly as in production, so the boundaries hold
here too. Local servers are used where configured or found at their default addresses (else
embedded ones: phoenix.dev.embedded). As root, a local exit node runs too
(phoenix.dev.local_node), and Prometheus scrapes them all when installed (phoenix.dev.prometheus).
The worker publishes the blocklist from a small hosts file it serves
itself, so nothing needs the Internet. Ctrl-C or SIGTERM stops every process this started and
removes the namespace.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Final

from phoenix.app import DEFAULT_OPS_PORTS, DEFAULT_PORTS, ROLES
from phoenix.dev import prometheus as dev_prometheus
from phoenix.dev.embedded import EmbeddedStores
from phoenix.dev.emulator import EMULATOR_PORT, FIREBASE_BIN, AuthEmulator
from phoenix.dev.environment import environment, role_environment
from phoenix.dev.errors import DevError
from phoenix.dev.keys import needs_new_key
from phoenix.dev.launcher import NotReady, Process, ProcessExited, wait_until
from phoenix.dev.local_node import LocalNode
from phoenix.dev.paths import STATE
from phoenix.dev.probes import answers_ok, port_free, port_open
from phoenix.dev.summary import print_summary

EMULATOR_START_SECONDS: Final = 45
SERVING_TIMEOUT_SECONDS: Final = 90
STOP_GRACE_SECONDS: Final = 40


def up(prometheus: bool = True) -> int:
    """``prometheus``: run it if installed (off: never)."""
    env = environment(os.environ)
    stores = EmbeddedStores()
    prometheus_bin = dev_prometheus.binary() if prometheus else None
    try:
        stores.provide(env, os.environ)
        return _up(env, stores, prometheus_bin, _prometheus_note(prometheus, prometheus_bin))
    finally:
        stores.stop()


def preflight(env: Mapping[str, str], prometheus_bin: str | None = None) -> None:
    if prometheus_bin is not None and not port_free(dev_prometheus.PROMETHEUS_PORT):
        raise DevError(
            f"port {dev_prometheus.PROMETHEUS_PORT} (Prometheus) is in use: stop what holds it, "
            "or run `make dev PROMETHEUS=no`"
        )
    for role in ROLES:
        for port in (DEFAULT_PORTS[role], DEFAULT_OPS_PORTS[role]):
            if not port_free(port):
                raise DevError(f"port {port} ({role}) is in use: stop what holds it")
    if not port_free(EMULATOR_PORT):
        raise DevError(
            f"port {EMULATOR_PORT} (Firebase Auth emulator) is in use: stop what holds it"
        )
    if not FIREBASE_BIN.exists():
        raise DevError(
            "the Firebase Auth emulator is not installed: run `make dev` (it runs npm ci)"
        )
    if not port_open(5432) and "127.0.0.1:5432" in env["PHOENIX_USERDB_URL"]:
        raise DevError(
            "no PostgreSQL on 127.0.0.1:5432: run `make dev` (it starts one) "
            "or set PHOENIX_USERDB_URL"
        )
    if not port_open(6379) and "127.0.0.1:6379" in env["PHOENIX_REDIS_URL"]:
        raise DevError(
            "no Redis on 127.0.0.1:6379: run `make dev` (it starts one) or set PHOENIX_REDIS_URL"
        )


def _up(
    env: dict[str, str], stores: EmbeddedStores, prometheus_bin: str | None, prometheus_note: str
) -> int:
    preflight(env, prometheus_bin)
    _ensure_issuer_key(env)
    emulator = _start_emulator()
    processes: dict[str, Process] = {}
    node: LocalNode | None = None
    stopping = False

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    try:
        _phoenix(env, "migrate", "--db", "userdb")
        _phoenix(env, "migrate", "--db", "nodedb")
        _phoenix(env, "migrate", "--db", "analytics")
        for role in ROLES:
            processes[role] = Process(
                [sys.executable, "-m", "phoenix", "serve", "--role", role],
                env=role_environment(env, role),
            )
        why_not = LocalNode.unavailable()
        if why_not is None:
            node = LocalNode(env)
            processes["phoenix-node"] = node.start()
        if prometheus_bin is not None:
            processes["prometheus"] = dev_prometheus.start(
                prometheus_bin, with_node=node is not None
            )
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        _wait_until_serving(processes)
        print_summary(why_not, stores.notes, prometheus_note)
        assert emulator.process is not None
        processes["firebase-emulator"] = emulator.process
        while not stopping:
            for name, process in processes.items():
                if not process.running:
                    print(
                        f"phoenix dev: {name} exited with {process.returncode}; stopping",
                        file=sys.stderr,
                    )
                    stopping = True
            time.sleep(0.5)
    finally:
        _stop(processes, emulator, node)
    return 0


def _prometheus_note(wanted: bool, prometheus_bin: str | None) -> str:
    if prometheus_bin is not None:
        port = dev_prometheus.PROMETHEUS_PORT
        return f"http://127.0.0.1:{port}  (/targets, /alerts; log: .dev/prometheus.log)"
    if not wanted:
        return "off (PROMETHEUS=no)"
    return "none: not installed (apt-get install prometheus; make deps does)"


def _ensure_issuer_key(env: Mapping[str, str]) -> None:
    keys = Path(env["PHOENIX_ISSUER_SIGNING_KEYS_FILE"])
    if "PHOENIX_ISSUER_SIGNING_KEYS" not in env and needs_new_key(keys, time.time()):
        _phoenix(env, "issuer", "keygen", "--out", str(keys))


def _phoenix(env: Mapping[str, str], *args: str) -> None:
    """One `phoenix` command, to its end (its answer is not shown: the summary says it all)."""
    subprocess.run(
        [sys.executable, "-m", "phoenix", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _start_emulator() -> AuthEmulator:
    """The Auth emulator on its development port, its log in .dev."""
    emulator = AuthEmulator(
        port=EMULATOR_PORT, log_dir=STATE, startup_timeout=EMULATOR_START_SECONDS
    )
    try:
        return emulator.start()
    except (ProcessExited, NotReady):
        raise DevError(f"the Firebase Auth emulator did not start: see {emulator.log}") from None


def _wait_until_serving(processes: Mapping[str, Process]) -> None:
    """The summary invites the user to try the roles: print it only once each one answers."""
    deadline = time.monotonic() + SERVING_TIMEOUT_SECONDS
    for role in ROLES:
        for port in (DEFAULT_PORTS[role], DEFAULT_OPS_PORTS[role]):
            url = f"http://127.0.0.1:{port}/healthz"
            try:
                wait_until(
                    functools.partial(answers_ok, url),
                    deadline - time.monotonic(),
                    role,
                    process=processes[role],
                    interval=0.2,
                )
            except ProcessExited as error:
                raise DevError(str(error)) from None
            except NotReady:
                raise DevError(
                    f"{role} did not answer {url} within {SERVING_TIMEOUT_SECONDS} s"
                ) from None
    if "prometheus" in processes:
        url = f"http://127.0.0.1:{dev_prometheus.PROMETHEUS_PORT}/-/ready"
        try:
            processes["prometheus"].wait_ready(
                functools.partial(answers_ok, url), max(deadline - time.monotonic(), 10)
            )
        except (ProcessExited, NotReady) as error:
            raise DevError(f"Prometheus did not start: {error}") from None


def _stop(processes: Mapping[str, Process], emulator: AuthEmulator, node: LocalNode | None) -> None:
    """SIGTERM to all at once (they shut down side by side), then wait for each."""
    for process in processes.values():
        process.terminate()
    if emulator.process is not None:
        emulator.process.terminate()
    for process in processes.values():
        process.stop(grace=STOP_GRACE_SECONDS)
    emulator.stop()
    if node is not None:
        node.remove()
