"""Scratch databases for benchmarks: made, migrated, and dropped whatever happens."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Final
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from phoenix.migrations import Database, upgrade

POSTGRES_URL: Final = os.environ.get(
    "PHOENIX_BENCH_POSTGRES_URL",
    os.environ.get("PHOENIX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)


@contextlib.contextmanager
def scratch_database(database: Database, purpose: str) -> Iterator[str]:
    """A new ``database`` (userdb or nodedb) of our own, migrated; dropped WITH (FORCE) after."""
    name = f"phoenix_bench_{purpose}_{uuid.uuid4().hex[:10]}"
    url = urlsplit(POSTGRES_URL)._replace(path="/" + name).geturl()
    try:
        upgrade(database, url)
        yield url
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=10) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
