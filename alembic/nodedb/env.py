"""Alembic environment of the nodedb tree: only phoenix.config.models is imported here."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from phoenix.common.database import normalise_url
from phoenix.config.models import NodeBase

config = context.config
target_metadata = NodeBase.metadata


def _url() -> str:
    configured = config.get_main_option("sqlalchemy.url")
    if not configured:
        import os

        configured = os.environ["PHOENIX_NODEDB_URL"]
    return normalise_url(configured).render_as_string(hide_password=False)


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    section = config.get_section(config.config_ini_section) or {}
    section["sqlalchemy.url"] = _url()
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
