"""Hardening tests run the roles as their own tests do: the same fixtures, re-exported here.

One is replaced: ``spare_redis`` is a Redis that writes every command to its append-only file
before answering, as a production Redis holding spent tokens must, so a restart keeps them.
"""

from collections.abc import Iterator

import pytest

from tests.conftest import require
from tests.harness.processes import SpareRedis
from tests.integration.auth.conftest import apple_chain, billing, billing_extra_env, stripe_stub
from tests.integration.config.conftest import config_server, config_settings, stores

__all__ = [
    "apple_chain",
    "billing",
    "billing_extra_env",
    "config_server",
    "config_settings",
    "stores",
    "stripe_stub",
]


class DurableRedis(SpareRedis):
    """A Redis of the test's own that keeps its data across a restart (appendfsync always)."""

    options = ("--save", "", "--appendonly", "yes", "--appendfsync", "always")


@pytest.fixture
def spare_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpareRedis]:
    server = DurableRedis(tmp_path_factory.mktemp("durable-redis"))
    require("redis-server", server.available(), "the redis-server binary")
    server.start()
    yield server
    server.stop()
