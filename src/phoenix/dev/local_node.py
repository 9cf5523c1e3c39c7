"""The local exit node of `make dev` (root only): `phoenix-node` with wireguard-go in the network
namespace `phoenix-dev-node`, joined to this machine by a veth pair (10.213.0.1 here, 10.213.0.2
there) and reaching the config role and the worker's blocklist through relays on 10.213.0.1. Its
metrics, on the namespace's loopback as on a real node, are relayed to 127.0.0.1:9586 here."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from phoenix.app import DEFAULT_PORTS
from phoenix.dev.errors import DevError
from phoenix.dev.keys import blocklist_verify_key
from phoenix.dev.launcher import NotReady, Process, wait_until
from phoenix.dev.paths import STATE
from phoenix.dev.relay import Relay

NODE_NETNS: Final = "phoenix-dev-node"
NODE_LOCATION: Final = "zz-local"
HOST_SIDE, NODE_SIDE = "10.213.0.1", "10.213.0.2"  # a /30 of private space for the veth pair
NODE_LOG: Final = STATE / "phoenix-node.log"
NODE_METRICS_PORT: Final = 9586  # the daemon's default, inside the namespace and relayed here


class LocalNode:
    """`phoenix-node` and its wireguard-go in the namespace NODE_NETNS (root only)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.relays: list[Relay] = []

    def key_dir(self) -> str:
        """On tmpfs, one per NodeDB: a node's key and credential are kept across restarts of
        `make dev`, but never offered to another database (the machine's Postgres, then the
        embedded one), which would know the key from its own node and refuse it (409)."""
        database = hashlib.sha256(self.env.get("PHOENIX_NODEDB_URL", "").encode()).hexdigest()
        return f"/dev/shm/phoenix-dev-node-{database[:12]}"  # noqa: S108 - tmpfs on purpose

    @staticmethod
    def unavailable() -> str | None:
        """Why there can be no local exit node here, or None."""
        if os.geteuid() != 0:
            return "the local exit node needs root (network namespaces): control plane only"
        for tool in ("ip", "wireguard-go", "nft"):
            if shutil.which(tool) is None:
                return (
                    f"the local exit node needs {tool} (make dev installs it): control plane only"
                )
        return None

    def start(self) -> Process:
        self.remove()  # a namespace left by a run that was killed
        _ip("netns", "add", NODE_NETNS)
        _ip("link", "add", "phx-dev0", "type", "veth", "peer", "phx-dev1", "netns", NODE_NETNS)
        _ip("addr", "add", f"{HOST_SIDE}/30", "dev", "phx-dev0")
        _ip("link", "set", "phx-dev0", "up")
        for command in (
            ("addr", "add", f"{NODE_SIDE}/30", "dev", "phx-dev1"),
            ("link", "set", "phx-dev1", "up"),
            ("link", "set", "lo", "up"),
            ("route", "add", "default", "via", HOST_SIDE),
        ):
            _ip("-n", NODE_NETNS, *command)
        # The node reaches the config role (its API) and the worker (the published blocklist).
        config_port, worker_port = DEFAULT_PORTS["config"], DEFAULT_PORTS["worker"]
        for port in (config_port, worker_port):
            try:
                self.relays.append(Relay(HOST_SIDE, port, port))
            except OSError as error:
                self.remove()
                raise DevError(
                    f"cannot listen on {HOST_SIDE}:{port} for the local exit node "
                    f"({error.strerror or error}); stop what holds it, or run without root"
                ) from None
        try:
            self.relays.append(
                Relay("127.0.0.1", NODE_METRICS_PORT, NODE_METRICS_PORT, netns=NODE_NETNS)
            )
        except OSError as error:
            self.remove()
            raise DevError(
                f"cannot relay the local exit node's metrics to 127.0.0.1:{NODE_METRICS_PORT} "
                f"({error.strerror or error}); stop what holds it"
            ) from None
        STATE.mkdir(exist_ok=True)
        node_env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "PHOENIX_NODE_API_URL": f"http://{HOST_SIDE}:{config_port}",
            # <variant>/manifest.json and the names files, checked with the worker's public key.
            "PHOENIX_NODE_BLOCKLIST_URL": f"http://{HOST_SIDE}:{worker_port}/blocklist",
            "PHOENIX_NODE_BLOCKLIST_KEY": blocklist_verify_key(
                self.env["PHOENIX_BLOCKLIST_SIGNING_KEY"]
            ),
            # The worker publishes within ten seconds of start; the node looks as often.
            "PHOENIX_NODE_BLOCKLIST_REFRESH_SECONDS": "10",
            # A single-use key minted now; a node that kept its identity (tmpfs) needs none.
            "PHOENIX_NODE_ENROLLMENT_KEY": self.enrollment_key(),
            "PHOENIX_NODE_REGION": NODE_LOCATION,
            "PHOENIX_NODE_PUBLIC_IP": NODE_SIDE,
            "PHOENIX_NODE_WG_BACKEND": "uapi",
            "PHOENIX_NODE_WG_INTERFACE": "wg-dev",
            "PHOENIX_NODE_EGRESS_INTERFACE": "phx-dev1",
            "PHOENIX_NODE_KEY_DIR": self.key_dir(),
            "PHOENIX_NODE_METRICS_PORT": str(NODE_METRICS_PORT),
        }
        return Process(
            ["ip", "netns", "exec", NODE_NETNS, sys.executable, "-m", "phoenix_node"],
            env=node_env,
            log=NODE_LOG,
            append=True,
        )

    def enrollment_key(self) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "phoenix", "node", "enroll-key", "--location", NODE_LOCATION],
            env=dict(self.env),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            self.remove()
            raise DevError(f"cannot mint an enrollment key: {done.stderr.strip()}")
        return done.stdout.strip()

    def remove(self) -> None:
        """Stop what still runs in the namespace (wireguard-go), by pid, and delete it."""
        while self.relays:
            self.relays.pop().close()
        if not Path(f"/run/netns/{NODE_NETNS}").exists():
            return
        pids = subprocess.run(
            ["ip", "netns", "pids", NODE_NETNS], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)
        # Not our children: nothing to reap, only their end to wait for (briefly).
        with contextlib.suppress(NotReady):
            wait_until(
                lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids),
                5,
                f"the processes of {NODE_NETNS}",
                interval=0.05,
            )
        subprocess.run(["ip", "link", "del", "phx-dev0"], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", NODE_NETNS], capture_output=True, check=False)


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DevError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")
