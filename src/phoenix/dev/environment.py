"""The environment `make dev` runs its roles with: development defaults, the embedded stores'
URLs while they run, and what the caller set."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from phoenix.app import DEFAULT_PORTS
from phoenix.dev.emulator import DEFAULT_PROJECT, EMULATOR_PORT
from phoenix.dev.local_node import NODE_SIDE
from phoenix.dev.paths import STATE
from phoenix.production import DEV_BLOCKLIST_SIGNING_SEED, DEV_MONITOR_TOKEN, DEV_OPERATOR_TOKEN

EMBEDDED_ENV: Final = STATE / "embedded.env"  # URLs of the embedded stores while they run

DEV_ENV: Final = {
    "PHOENIX_ENV": "dev",
    "PHOENIX_LOG_LEVEL": "info",
    "PHOENIX_USERDB_URL": "postgresql://postgres@127.0.0.1:5432/phoenix_users",
    "PHOENIX_NODEDB_URL": "postgresql://postgres@127.0.0.1:5432/phoenix_nodes",
    "PHOENIX_REDIS_URL": "redis://127.0.0.1:6379/0",
    "PHOENIX_BROKER": "redis",
    "PHOENIX_ISSUER_SIGNING_KEYS_FILE": str(STATE / "issuer-keys.pem"),
    "PHOENIX_FIREBASE_PROJECT_ID": DEFAULT_PROJECT,
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
    # needed), checked every ten seconds (a conditional GET: 304) so the first list appears soon.
    "PHOENIX_BLOCKLIST_BASE_URL": f"http://127.0.0.1:{DEFAULT_PORTS['worker']}/dev-hosts",
    "PHOENIX_BLOCKLIST_INTERVAL_SECONDS": "10",
    "PHOENIX_ANALYTICS_URL": "http://127.0.0.1:8083",
    # The local exit node's address is private (a veth pair): config accepts that one address
    # as a node's public_ip, in development only.
    "PHOENIX_NODE_DEV_NETWORKS": f"{NODE_SIDE}/32",
}


def environment(base: Mapping[str, str]) -> dict[str, str]:
    """Development defaults, then the embedded stores' URLs while `make dev` runs them (so that
    `phoenix dev grant` in another terminal finds them), overridden by what the caller set."""
    embedded: dict[str, str] = {}
    if EMBEDDED_ENV.exists():
        for line in EMBEDDED_ENV.read_text().splitlines():
            name, _, value = line.partition("=")
            embedded[name] = value
    return {**DEV_ENV, **embedded, **base}


def role_environment(env: Mapping[str, str], role: str) -> dict[str, str]:
    """``env`` as ``role`` runs with it: the worker on a Redis database of its own, not config's
    (as in production: phoenix.worker.settings)."""
    own = dict(env)
    if role == "worker":
        for variable in ("PHOENIX_REDIS_URL", "PHOENIX_BROKER_URL"):
            if variable in own:
                own[variable] = re.sub(r"^(redis://[^/]+)/0$", r"\1/1", own[variable])
    return own
