"""A role's process loads only its own role: `phoenix boundary-report` in a fresh subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.harness import issuer

ENV = {
    "PHOENIX_ENV": "test",
    "PHOENIX_ISSUER_SIGNING_KEYS": issuer.bundle(),
    "PHOENIX_FIREBASE_PROJECT_ID": "demo-phoenix",
    "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9",  # building the app contacts nothing
    "PHOENIX_USERDB_URL": "postgresql://postgres@127.0.0.1:5432/phoenix_users",
    "PHOENIX_NODEDB_URL": "postgresql://postgres@127.0.0.1:5432/phoenix_nodes",
}
IDENTITY = {"firebase_admin", "stripe", "appstoreserverlibrary"}
DATA_PLANE = {"pyroute2", "nftables"}
SQL = {"sqlalchemy", "psycopg", "psycopg2", "asyncpg", "alembic"}

# role -> (phoenix packages it must not load, third-party packages it must not load)
FORBIDDEN: dict[str, tuple[set[str], set[str]]] = {
    "auth": ({"phoenix.config", "phoenix.analytics", "phoenix.worker"}, DATA_PLANE),
    "config": ({"phoenix.auth", "phoenix.analytics", "phoenix.worker"}, IDENTITY),
    "analytics": ({"phoenix.auth", "phoenix.config", "phoenix.worker"}, IDENTITY | SQL),
    "worker": ({"phoenix.auth", "phoenix.config", "phoenix.analytics"}, IDENTITY | SQL),
}


def boundary_report(role: str) -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-m", "phoenix", "boundary-report", "--role", role],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report: dict[str, list[str]] = json.loads(result.stdout)
    return report


@pytest.mark.parametrize("role", sorted(FORBIDDEN))
def test_a_role_process_loads_nothing_of_another_role(role: str) -> None:
    report = boundary_report(role)
    other_roles, third_party = FORBIDDEN[role]
    loaded = set(report["phoenix_modules"])
    assert f"phoenix.{role}.app" in loaded  # the report really built this role's app
    leaked = {m for m in loaded if any(m == p or m.startswith(p + ".") for p in other_roles)}
    assert not leaked
    assert not third_party & set(report["third_party"])


def test_the_report_sees_what_a_role_loads() -> None:
    # The check above is only worth something if the report would show a forbidden package.
    report = boundary_report("config")
    assert {"sqlalchemy", "redis", "litestar"} <= set(report["third_party"])
