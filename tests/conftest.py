"""Test harness: real Postgres, Redis and RabbitMQ; one throwaway database per test run.

A test's Postgres database is a copy of a template migrated once a run (``migrated_database``).
Addresses come from PHOENIX_TEST_POSTGRES_URL, PHOENIX_TEST_REDIS_URL and PHOENIX_TEST_RABBITMQ_URL
(defaults: the machine's local servers). Fixtures only ever create and drop what they made
themselves: uniquely named databases, key namespaces and queues.

A missing part skips a test on a laptop, but under CI=true every skip is turned into a failure
unless the test is marked ``skip_allowed_in_ci`` with the reason the part cannot exist there.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal
from urllib.parse import urlsplit

import psycopg
import pytest
from hypothesis import settings
from psycopg import sql

from phoenix.migrations import upgrade
from tests.harness import processes

pytest_plugins = [
    "tests.harness.ci_skips",
    "tests.harness.crash_traces",
    "tests.harness.firebase_fixtures",
    "pytester",
]

# No per-example deadline: on the 2-core CI machine a property's example now and then takes
# over Hypothesis's 200 ms while the machine is busy, which fails a test that says nothing
# about speed (speed lives in `make bench`).
settings.register_profile("phoenix", deadline=None)
settings.load_profile("phoenix")

POSTGRES_URL = os.environ.get(
    "PHOENIX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("PHOENIX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("PHOENIX_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def require(part: str, reachable: bool, how: str) -> None:
    """Skip when ``part`` is missing (a failure under CI=true, by the hook above)."""
    if not reachable:
        pytest.skip(f"{part} is not reachable ({how})")


def tcp_reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    require("PostgreSQL", tcp_reachable(POSTGRES_URL, 5432), POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    require("Redis", tcp_reachable(REDIS_URL, 6379), REDIS_URL)
    return REDIS_URL


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    require("RabbitMQ", tcp_reachable(RABBITMQ_URL, 5672), RABBITMQ_URL)
    return RABBITMQ_URL


def _database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return parts._replace(path="/" + name).geturl()


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


Tree = Literal["userdb", "nodedb"]


class DatabaseTemplates:
    """One migrated template database per tree and run; a test's database is a copy of it.

    ``CREATE DATABASE ... TEMPLATE`` copies files, several times faster than running every
    migration again for each of the hundreds of tests that want a fresh database. The name
    carries a tag of this run, so concurrent runs (or xdist workers) never share a template.
    """

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.tag = uuid.uuid4().hex[:10]
        self.made: dict[Tree, str] = {}
        self._lock = threading.Lock()  # tests also ask from worker threads (asyncio.to_thread)

    def template(self, tree: Tree) -> str:
        with self._lock:
            if tree not in self.made:
                name = f"phoenix_template_{tree}_{self.tag}"
                # alembic's engine is a NullPool one, disposed when it is done.
                upgrade(tree, _database_url(self.server_url, name))
                self.made[tree] = name
                with psycopg.connect(self.server_url, autocommit=True) as connection:
                    # Copying waits for, then fails on, any session on the template: allow none.
                    connection.execute(
                        sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
                            sql.Identifier(name)
                        )
                    )
            return self.made[tree]

    def copy(self, tree: Tree, url: str) -> str:
        """Create ``url``'s database as a copy of ``tree``'s template; return ``url``."""
        template = self.template(tree)
        name = urlsplit(url).path.lstrip("/")
        with psycopg.connect(self.server_url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return url

    def drop(self) -> None:
        for name in self.made.values():
            drop_database(self.server_url, name)


@pytest.fixture(scope="session")
def _templates_by_server() -> Iterator[dict[str, DatabaseTemplates]]:
    made: dict[str, DatabaseTemplates] = {}
    yield made
    for templates in made.values():
        # A module's private server (fault tests) is gone by now, its templates with it.
        with contextlib.suppress(psycopg.OperationalError):
            templates.drop()


@pytest.fixture(scope="module")
def database_templates(
    postgres_url: str, _templates_by_server: dict[str, DatabaseTemplates]
) -> DatabaseTemplates:
    """The templates on the server ``postgres_url`` names, which a module may override with
    a private one (fault tests): made once per server and run."""
    return _templates_by_server.setdefault(postgres_url, DatabaseTemplates(postgres_url))


@pytest.fixture
def database_name_factory(postgres_url: str) -> Iterator[Callable[[str], str]]:
    """Names (and URLs) of databases that do not exist yet; every one is dropped afterwards."""
    made: list[str] = []

    def make(purpose: str) -> str:
        name = f"phoenix_test_{purpose}_{uuid.uuid4().hex[:10]}"
        made.append(name)
        return _database_url(postgres_url, name)

    yield make
    for name in made:
        drop_database(postgres_url, name)


@pytest.fixture
def migrated_database(
    database_name_factory: Callable[[str], str], database_templates: DatabaseTemplates
) -> Callable[[Tree], str]:
    """URLs of new databases at the newest schema of a tree, dropped afterwards."""

    def make(tree: Tree) -> str:
        return database_templates.copy(tree, database_name_factory(tree))

    return make


@pytest.fixture
def unique() -> str:
    """A short random suffix for key namespaces, queue names and the like."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def spare_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.SpareRedis]:
    """A Redis of the test's own on a spare port, to stop at will (never the machine's)."""
    server = processes.SpareRedis(tmp_path_factory.mktemp("redis"))
    require("redis-server", server.available(), "the redis-server binary")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def clickhouse_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    """Debian's clickhouse-server on private ports with its own data directory, once a run."""
    from tests.harness.clickhouse import ClickHouseServer

    server = ClickHouseServer(tmp_path_factory.mktemp("clickhouse"))
    require("clickhouse-server", server.available(), "Debian package clickhouse-server")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clickhouse_url(clickhouse_server: Any) -> Iterator[str]:
    """A ClickHouse database of the test's own on that server, dropped afterwards."""
    name = f"phoenix_test_{uuid.uuid4().hex[:10]}"
    clickhouse_server.query(f"CREATE DATABASE {name}")
    yield clickhouse_server.url(name)
    clickhouse_server.query(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="session")
def issuer_directory() -> Iterator[Any]:
    """A static issuer directory listing the harness's first issuer key."""
    from tests.harness.issuer import DirectoryServer, private_keys

    server = DirectoryServer(private_keys(1))
    yield server
    server.stop()
