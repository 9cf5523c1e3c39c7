"""Every alembic tree goes empty → head → head, down to base and up again, one step at a time.

Analytics (ClickHouse) migrations are forward-only numbered .sql files, so only empty → head → head
applies there; tests/integration/analytics/test_operations.py covers it.

A scratch database per test on the real Postgres. After each step the whole schema (columns,
constraints, indexes, functions) is compared: a downgrade that forgets an index, a function or a
constraint leaves a different schema after the next upgrade, and that is what fails here.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from phoenix.common.database import normalise_url
from phoenix.migrations import alembic_ini, upgrade

TREES = ("userdb", "nodedb")

Snapshot = list[tuple[str, ...]]


def alembic_config(database: str, url: str) -> Config:
    ini = alembic_ini()
    config = Config(str(ini), ini_section=database)
    config.set_main_option("script_location", str(ini.parent / "alembic" / database))
    rendered = normalise_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def revisions(config: Config) -> list[str]:
    """The tree's revisions from the first to head (one branch, as `alembic history` lists)."""
    script = ScriptDirectory.from_config(config)
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def schema(url: str) -> Snapshot:
    """Every schema object of `public` a migration can create, in a stable order."""
    queries = {
        "column": """SELECT table_name, column_name, data_type, is_nullable,
                            coalesce(column_default, '')
                     FROM information_schema.columns WHERE table_schema = 'public'""",
        "constraint": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                         FROM pg_constraint WHERE connamespace = 'public'::regnamespace""",
        "index": """SELECT tablename, indexname, indexdef
                    FROM pg_indexes WHERE schemaname = 'public'""",
        "function": """SELECT proname, pg_get_function_identity_arguments(oid)
                       FROM pg_proc WHERE pronamespace = 'public'::regnamespace""",
        "type": """SELECT typname, typtype::text FROM pg_type
                   WHERE typnamespace = 'public'::regnamespace AND typtype IN ('e', 'd')""",
        "sequence": """SELECT sequence_name, data_type FROM information_schema.sequences
                       WHERE sequence_schema = 'public'""",
    }
    rows: Snapshot = []
    with psycopg.connect(url) as connection:
        for kind, query in queries.items():
            rows += sorted((kind, *map(str, row)) for row in connection.execute(query))
    return [row for row in rows if "alembic_version" not in row[1]]


def version(url: str) -> str | None:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT max(version_num) FROM alembic_version").fetchone()
    return None if row is None else row[0]


@pytest.fixture(params=TREES)
def tree(
    request: pytest.FixtureRequest, database_name_factory: Callable[[str], str]
) -> tuple[str, str, Config]:
    """One tree's name, a scratch database URL (not created yet) and its alembic config."""
    database: str = request.param
    url = database_name_factory(f"{database}_rt")
    return database, url, alembic_config(database, url)


def test_empty_to_head_then_head_to_head_changes_nothing(tree: tuple[str, str, Config]) -> None:
    database, url, config = tree
    assert upgrade(database, url) is True
    head = schema(url)
    assert head, "head has no schema objects"
    assert version(url) == revisions(config)[-1]
    assert upgrade(database, url) is False
    assert schema(url) == head


def test_downgrade_to_base_leaves_nothing_and_upgrade_rebuilds_the_same_schema(
    tree: tuple[str, str, Config],
) -> None:
    database, url, config = tree
    upgrade(database, url)
    head = schema(url)
    command.downgrade(config, "base")
    assert schema(url) == []
    assert version(url) is None
    command.upgrade(config, "head")
    assert schema(url) == head


def test_every_revision_steps_down_and_up_to_the_same_schema(tree: tuple[str, str, Config]) -> None:
    """The stairway: at each revision, one step down and one up again is a no-op on the schema."""
    database, url, config = tree
    upgrade(database, url, "base")
    previous: Snapshot = schema(url)
    for revision in revisions(config):
        command.upgrade(config, revision)
        here = schema(url)
        assert here != previous, f"{revision} changed nothing"
        command.downgrade(config, "-1")
        assert schema(url) == previous, f"{revision} does not downgrade cleanly"
        command.upgrade(config, revision)
        assert schema(url) == here, f"{revision} does not upgrade the same way twice"
        previous = here
