"""The whole system for path tests: every role a real `phoenix serve` process, on databases and a
Redis of the test's own, with the real Firebase Auth emulator and the Stripe API stub.

``PhoenixSystem.start`` copies fresh `phoenix_users`/`phoenix_nodes` databases from the run's
migrated templates on the test Postgres, starts a spare Redis (the config role's state and the
worker's broker, so a sweep of every key reads only this system's), and the roles: auth,
config, the worker publishing the blocklist of a local hosts server every two seconds, and,
when asked, analytics on embedded chDB. ``client(...)`` runs `python -m phoenix.client` against
it, optionally inside a network namespace. ``stop`` stops the processes and drops the databases.

Exit nodes enroll as in production: ``enrollment_key`` mints a single-use key through the config
role's operator route (for a daemon to register with), ``register_node`` enrolls a node over the
node API (tests.harness.nodes). A node in a network namespace has no global address: the
networks it lives in are passed as ``node_networks`` (PHOENIX_NODE_DEV_NETWORKS), nothing more.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import DatabaseTemplates, Tree, _database_url, drop_database
from tests.harness import issuer as issuer_keys
from tests.harness import nodes as node_harness
from tests.harness import stripe as stripe_harness
from tests.harness.firebase import FirebaseAuthEmulator
from tests.harness.hosts_server import HostsServer, Served, hosts_file
from tests.harness.processes import REPO, RoleServer, SpareRedis

MONITOR_TOKEN = "system-monitor-token-" + "m" * 24
OPERATOR_TOKEN = "system-operator-token-" + "o" * 24  # analytics' operator
# Config's operator (enrollment keys): never the monitor's, which config refuses at start.
FLEET_OPERATOR_TOKEN = node_harness.OPERATOR_TOKEN
BLOCKLIST_SEED = base64.b64encode(b"system-test-blocklist-seed-32byt").decode()
BLOCKED = ["ads.example.com", "tracker.example.net", "pixel.example.org"]
ISSUER_NAME, ORIGIN_NAME = "auth.phoenix.test", "config.phoenix.test"


def blocklist_public_key(seed_b64: str = BLOCKLIST_SEED) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed_b64))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


@dataclass
class PhoenixSystem:
    directory: Path
    templates: DatabaseTemplates
    emulator: FirebaseAuthEmulator
    stripe: stripe_harness.StripeStub
    analytics: bool = False
    node_networks: tuple[str, ...] = ()  # PHOENIX_NODE_DEV_NETWORKS: namespaces' node addresses
    databases: dict[str, str] = field(default_factory=dict)
    servers: dict[str, RoleServer] = field(default_factory=dict)
    redis: SpareRedis | None = None
    hosts: HostsServer | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> PhoenixSystem:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        tag = uuid.uuid4().hex[:10]
        trees: tuple[Tree, ...] = ("userdb", "nodedb")
        for tree in trees:
            name = f"phoenix_test_system_{tree}_{tag}"
            self.databases[tree] = name
            self.templates.copy(tree, self.url(tree))
        self.redis = SpareRedis(self.directory)
        self.redis.start()
        self.hosts = HostsServer()
        self.hosts.files["/hosts"] = Served(hosts_file(BLOCKED))
        common = {"PHOENIX_ENV": "test"}
        auth = self._role(
            "auth",
            {
                **common,
                **self.emulator.env,
                "PHOENIX_USERDB_URL": self.url("userdb"),
                "PHOENIX_ISSUER_SIGNING_KEYS": issuer_keys.bundle(),
                "PHOENIX_FIREBASE_PROJECT_ID": self.emulator.project_id,
                "PHOENIX_STRIPE_SECRET_KEY": "sk_test_phoenix",
                "PHOENIX_STRIPE_SUCCESS_URL": "https://phoenix.test/billing/done",
                "PHOENIX_STRIPE_CANCEL_URL": "https://phoenix.test/billing/cancelled",
                "PHOENIX_STRIPE_PORTAL_RETURN_URL": "https://phoenix.test/account",
                "PHOENIX_STRIPE_WEBHOOK_SECRET": stripe_harness.WEBHOOK_SECRET,
                "PHOENIX_STRIPE_PRICE_ID": "price_monthly",
                "PHOENIX_STRIPE_API_BASE": self.stripe.url,
            },
        )
        self._role(
            "config",
            {
                **common,
                "PHOENIX_NODEDB_URL": self.url("nodedb"),
                "PHOENIX_REDIS_URL": self.redis.url,
                "PHOENIX_OPERATOR_TOKEN": FLEET_OPERATOR_TOKEN,
                "PHOENIX_MONITOR_TOKEN": MONITOR_TOKEN,
                "PHOENIX_ISSUER_DIRECTORY_URL": (
                    f"{auth.base_url}/.well-known/private-token-issuer-directory"
                ),
                "PHOENIX_ISSUER_NAME": ISSUER_NAME,
                "PHOENIX_ORIGIN_NAME": ORIGIN_NAME,
                "PHOENIX_NODE_DEV_NETWORKS": ",".join(self.node_networks),  # none: ""
                # The census (and the sweep) every 2 s, not 15: a journey's nodes are counted.
                "PHOENIX_FLEET_SWEEP_SECONDS": "2",
            },
        )
        if self.analytics:
            chdb = {"PHOENIX_CHDB_PATH": str(self.directory / "chdb")}
            subprocess.run(
                [sys.executable, "-m", "phoenix", "migrate", "--db", "analytics"],
                env={**os.environ, **common, **chdb},
                cwd=REPO,
                check=True,
                capture_output=True,
                timeout=120,
            )
            self._role(
                "analytics",
                {
                    **common,
                    **chdb,
                    "PHOENIX_OPERATOR_TOKEN": OPERATOR_TOKEN,
                    "PHOENIX_FLUSH_SECONDS": "0.2",
                    "PHOENIX_REPORT_MIN_EVENTS": "2",
                },
            )
        self._role(
            "worker",
            {
                **common,
                "PHOENIX_BROKER": "redis",
                "PHOENIX_BROKER_URL": self.redis.url,
                "PHOENIX_REDIS_URL": self.redis.url,
                "PHOENIX_BLOCKLIST_TARGET": f"file://{self.directory / 'blocklist'}",
                "PHOENIX_BLOCKLIST_SIGNING_KEY": BLOCKLIST_SEED,
                "PHOENIX_BLOCKLIST_BASE_URL": self.hosts.url,
                "PHOENIX_BLOCKLIST_INTERVAL_SECONDS": "2",
                "PHOENIX_REAPER_INTERVAL_SECONDS": "0",
                "PHOENIX_CANARY_INTERVAL_SECONDS": "0",
                "PHOENIX_RETENTION_INTERVAL_SECONDS": "0",
            },
        )

    def _role(self, role: str, env: dict[str, str]) -> RoleServer:
        server = RoleServer(role, env, self.directory / f"{role}.log")
        self.servers[role] = server
        return server.start()

    def stop(self) -> None:
        for server in reversed(list(self.servers.values())):
            server.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.hosts is not None:
            self.hosts.stop()
        for name in self.databases.values():
            drop_database(self.templates.server_url, name)

    # ---------------------------------------------------------------- reading it

    def url(self, db: str) -> str:
        return _database_url(self.templates.server_url, self.databases[db])

    def base_url(self, role: str) -> str:
        return self.servers[role].base_url

    def logs(self) -> dict[str, str]:
        return {role: server.logs() for role, server in self.servers.items()}

    def wait_for_blocklist(self, timeout: float = 30) -> None:
        manifest = self.directory / "blocklist" / "base" / "manifest.json"
        deadline = time.monotonic() + timeout
        while not manifest.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no blocklist published: {self.servers['worker'].logs()}")
            time.sleep(0.2)

    # ---------------------------------------------------------------- acting on it

    def client_options(self, home: Path, via: Mapping[str, str] | None = None) -> list[str]:
        """The client's options for this system; `via` replaces the base URL of a role (or of
        "firebase", as host:port) with what the client sees, such as a namespace's forward."""
        urls = {role: server.base_url for role, server in self.servers.items()}
        urls["firebase"] = self.emulator.host
        urls.update(via or {})
        return [
            "--home", str(home),
            "--auth-url", urls["auth"],
            "--config-url", urls["config"],
            "--blocklist-url", urls["worker"] + "/blocklist",
            "--blocklist-key", blocklist_public_key(),
            "--firebase-emulator", urls["firebase"],
        ]  # fmt: skip

    def client(
        self,
        home: Path,
        *argv: str,
        stdin: str | None = None,
        prefix: Sequence[str] = (),
        via: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """`python -m phoenix.client` (the `phoenix-client` entry point) against this system;
        `prefix` runs it inside something (`ip netns exec NS`)."""
        command = [*prefix, sys.executable, "-m", "phoenix.client"]
        return subprocess.run(
            [*command, *self.client_options(home, via), *argv],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO / "src")},
            check=False,
        )

    def sign_in(self, id_token: str) -> None:
        """What the app does once a user signed in: ask for the account (its row is made)."""
        answer = httpx.get(
            self.base_url("auth") + "/v1/account",
            headers={"authorization": f"Bearer {id_token}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text

    def subscribe(self, uid: str) -> None:
        """A paid Stripe Checkout for `uid`, a user who has signed in (a checkout is started by
        one; a checkout for no known user changes nothing): the stub knows the subscription,
        and the signed `checkout.session.completed` reaches the auth role's webhook."""
        subscription_id = f"sub_{uuid.uuid4().hex[:14]}"
        customer = f"cus_{uuid.uuid4().hex[:14]}"
        self.stripe.subscriptions[subscription_id] = stripe_harness.subscription(
            subscription_id, customer
        )
        body = stripe_harness.event(
            "checkout.session.completed",
            stripe_harness.checkout_session(uid, customer, subscription_id),
        )
        answer = httpx.post(
            self.base_url("auth") + "/v1/webhooks/stripe",
            content=body,
            headers={"stripe-signature": stripe_harness.signature_header(body)},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text

    def enrollment_key(self, location: str = "de-fra") -> str:
        """A single-use key that enrolls one node in ``location``, minted by the operator."""
        return node_harness.mint_sync(self.base_url("config"), location)

    def register_node(
        self, location: str = "de-fra", public_ip: str = node_harness.PUBLIC_IP
    ) -> Any:
        """A node enrolled through the node API and beating once (for tests without a data
        plane): its registration and its public key."""
        with httpx.Client(base_url=self.base_url("config"), timeout=10) as config:
            node = node_harness.enroll_sync(config, location, public_ip=public_ip)
            beat = config.post(
                f"/v1/nodes/{node.id}/heartbeat",
                json={
                    "peers": 0, "active_peers": 0, "rx_bytes": 0, "tx_bytes": 0, "cpu": 1.0,
                    "load1": 0.1, "mem_used": 10.0, "applied_revision": 0,
                },
                headers=node.auth,
            )  # fmt: skip
        assert beat.status_code == 200, beat.text
        return {**node.answer, "public_key": node.keys.public_b64}


@contextlib.contextmanager
def running_system(
    directory: Path,
    templates: DatabaseTemplates,
    emulator: FirebaseAuthEmulator,
    *,
    analytics: bool = False,
    node_networks: Sequence[str] = (),
) -> Iterator[PhoenixSystem]:
    stub = stripe_harness.StripeStub().start()
    system = PhoenixSystem(directory, templates, emulator, stub, analytics, tuple(node_networks))
    try:
        yield system.start()
    finally:
        system.stop()
        stub.stop()
