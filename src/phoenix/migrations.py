"""`phoenix migrate`: create a role's database when missing, then bring it to the newest schema.

One alembic.ini with a section per database (alembic's "multiple environments" recipe); each
tree's env.py imports only its own role's models.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Final, Literal

import msgspec

from phoenix.common.database import ensure_database, normalise_url
from phoenix.settings import SECRET, load

Database = Literal["userdb", "nodedb", "analytics"]
DATABASES: Final[tuple[Database, ...]] = ("userdb", "nodedb", "analytics")


class MigrationSetupError(Exception):
    pass


def alembic_ini() -> Path:
    """alembic.ini: PHOENIX_ALEMBIC_CONFIG, else the source checkout this package runs from."""
    configured = os.environ.get("PHOENIX_ALEMBIC_CONFIG")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise MigrationSetupError(f"PHOENIX_ALEMBIC_CONFIG: no file at {path}")
        return path
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "alembic.ini"
        if candidate.is_file():
            return candidate
    raise MigrationSetupError("PHOENIX_ALEMBIC_CONFIG: not set and no alembic.ini found")


class _UserDB(msgspec.Struct, frozen=True):
    userdb_url: Annotated[str, SECRET]


class _NodeDB(msgspec.Struct, frozen=True):
    nodedb_url: Annotated[str, SECRET]


class _Analytics(msgspec.Struct, frozen=True):
    clickhouse_url: Annotated[str, SECRET] = ""
    chdb_path: str = "analytics-data"


def database_url(database: Database) -> str:
    """The URL only, read as its role reads it: migrating needs none of the role's other secrets.

    For analytics: the ClickHouse server URL, or the embedded engine's directory when none.
    """
    if database == "analytics":
        analytics = load(_Analytics)
        return analytics.clickhouse_url or analytics.chdb_path
    if database == "userdb":
        return load(_UserDB).userdb_url
    return load(_NodeDB).nodedb_url


def upgrade(database: Database, url: str, revision: str = "head") -> bool:
    """Migrate to ``revision``; return whether the database had to be created first."""
    if database == "analytics":
        return _upgrade_analytics(url)
    from alembic import command
    from alembic.config import Config

    created = ensure_database(url)
    ini = alembic_ini()
    config = Config(str(ini), ini_section=database)
    config.set_main_option("script_location", str(ini.parent / "alembic" / database))
    rendered = normalise_url(url).render_as_string(hide_password=False)
    # ConfigParser interpolation would read a '%' in a password as a placeholder.
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    command.upgrade(config, revision)
    return created


def _upgrade_analytics(target: str) -> bool:
    # ClickHouse has its own numbered .sql files, applied by the analytics store (no alembic).
    from phoenix.analytics.store import EmbeddedStore, ServerStore, ensure_database, migrate

    if target.startswith("clickhouse://"):
        created = ensure_database(target)
        store: ServerStore | EmbeddedStore = ServerStore(target)
    else:
        created = False
        store = EmbeddedStore(target)
    try:
        migrate(store)
    finally:
        store.close()
    return created
