"""`phoenix migrate` creates a missing database, reaches head, and a second run changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine

from phoenix.auth.models import UserBase
from phoenix.common.database import normalise_url
from phoenix.config.models import NodeBase

DATABASES: dict[str, tuple[str, MetaData, str]] = {
    "userdb": ("PHOENIX_USERDB_URL", UserBase.metadata, "users"),
    "nodedb": ("PHOENIX_NODEDB_URL", NodeBase.metadata, "nodes"),
}


def migrate(database: str, url: str) -> dict[str, str]:
    variable = DATABASES[database][0]
    result = subprocess.run(
        [sys.executable, "-m", "phoenix", "migrate", "--db", database],
        env={**os.environ, variable: url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def schema_snapshot(url: str) -> list[tuple[str, ...]]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            """SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '')
               FROM information_schema.columns WHERE table_schema = 'public'
               ORDER BY table_name, column_name"""
        ).fetchall()
        version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    return [tuple(map(str, row)) for row in rows] + [
        ("alembic_version", *map(str, v)) for v in version
    ]


@pytest.mark.parametrize("database", sorted(DATABASES))
def test_migrate_creates_the_database_and_is_idempotent(
    database: str, database_name_factory: Callable[[str], str]
) -> None:
    url = database_name_factory(database)
    assert migrate(database, url)["result"] == "created and migrated"
    first = schema_snapshot(url)
    assert any(row[0] == DATABASES[database][2] for row in first)
    assert migrate(database, url)["result"] == "migrated"
    assert schema_snapshot(url) == first


@pytest.mark.parametrize("database", sorted(DATABASES))
def test_the_models_match_the_migrations(
    database: str, database_name_factory: Callable[[str], str]
) -> None:
    url = database_name_factory(database)
    migrate(database, url)
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), DATABASES[database][1])
    finally:
        engine.dispose()
    assert diff == []


def test_the_two_databases_share_no_table() -> None:
    assert not set(UserBase.metadata.tables) & set(NodeBase.metadata.tables)


def test_migrate_reports_an_unreachable_server_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "phoenix", "migrate", "--db", "userdb"],
        env={**os.environ, "PHOENIX_USERDB_URL": "postgresql://postgres@127.0.0.1:1/phoenix_users"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
