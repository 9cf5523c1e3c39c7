"""What both alembic trees' env.py do: run the migrations of one metadata on its database.

Each tree's env.py only names its own role's models and URL variable, so migrating UserDB
never imports NodeDB's models and the reverse.
"""

from __future__ import annotations

import os

from sqlalchemy import MetaData, engine_from_config, pool

from phoenix.common.database import normalise_url


def run(metadata: MetaData, url_variable: str) -> None:
    from alembic import context

    config = context.config
    configured = config.get_main_option("sqlalchemy.url") or os.environ[url_variable]
    url = normalise_url(configured).render_as_string(hide_password=False)
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    section = config.get_section(config.config_ini_section) or {}
    section["sqlalchemy.url"] = url
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=metadata)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
