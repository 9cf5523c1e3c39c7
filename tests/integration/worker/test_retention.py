"""Retention calls each role's own admin endpoint; the role deletes its own data.

Config runs as a real process on its own NodeDB: an expired lease is planted in NodeDB by the
test (the worker itself can never reach it) and must be gone after the worker's call.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import psycopg
import pytest

from phoenix.worker.retention import Retention, RetentionTarget
from tests.harness.processes import RoleServer
from tests.integration.config.conftest import (  # noqa: F401 - fixtures
    MONITOR_TOKEN,
    config_server,
    config_settings,
)
from tests.integration.worker.test_reaper import Node


def plant_leases(nodedb_url: str, node: Node) -> None:
    url = nodedb_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as connection:
        for offset, hours in ((10, -1), (11, 24)):  # one expired, one live
            connection.execute(
                "INSERT INTO leases (public_key, node_id, ipv4, ipv6, expires_at) "
                "VALUES (%s, %s, %s, %s, now() + make_interval(hours => %s))",
                (os.urandom(32), node.id, f"10.64.0.{offset}", f"fd10:7068:6f65::{offset}", hours),
            )


def leases(nodedb_url: str) -> int:
    url = nodedb_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM leases").fetchone()
    assert row is not None
    return int(row[0])


def test_config_sweeps_expired_leases_when_the_worker_calls_and_twice_changes_nothing(
    config_server: RoleServer,  # noqa: F811
    config_settings: Any,  # noqa: F811
) -> None:
    node = Node(config_server, "203.0.114.20")
    plant_leases(config_settings.nodedb_url, node)
    with httpx.Client(timeout=10) as client:
        retention = Retention(
            client, [RetentionTarget("config", config_server.base_url, MONITOR_TOKEN)]
        )
        assert retention.run("config") == {"removed": 1}
        assert leases(config_settings.nodedb_url) == 1
        assert retention.run("config") == {"removed": 0}
        assert leases(config_settings.nodedb_url) == 1


def test_a_target_that_refuses_the_credential_fails_the_job(
    config_server: RoleServer,  # noqa: F811
) -> None:
    with httpx.Client(timeout=10) as client:
        retention = Retention(
            client, [RetentionTarget("config", config_server.base_url, "wrong-" + "x" * 30)]
        )
        with pytest.raises(httpx.HTTPStatusError):
            retention.run("config")


def test_an_unconfigured_target_is_skipped() -> None:
    with httpx.Client() as client:
        assert Retention(client, [RetentionTarget("auth", "", "")]).run("auth") is None
