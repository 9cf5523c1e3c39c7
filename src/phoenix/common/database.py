"""PostgreSQL access shared by the roles that own a database (auth: UserDB, config: NodeDB).

Engines are made by a role's app factory, never at import time, and a process only ever holds
the one database its role owns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import psycopg
from litestar import Request, Response
from litestar.types import ExceptionHandlersMap
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from phoenix.common.logging import get_logger
from phoenix.common.problems import Problem, problem_response

_log = get_logger("phoenix.database")

DRIVER = "postgresql+psycopg"

# Deterministic constraint names, so migrations of both databases can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def normalise_url(url: str) -> URL:
    """Accept ``postgresql://`` or ``postgres://`` and pin the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL (backend {parsed.get_backend_name()!r})")
    return parsed.set(drivername=DRIVER)


POOL_TIMEOUT_SECONDS: Final = 10


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        normalise_url(url),
        pool_size=pool_size,
        # No overflow: an overflow connection is opened for one request and closed after it,
        # and a new PostgreSQL connection (a forked backend) costs more than the request
        # itself — under load that churn cut connects/s several-fold (measured, bench config).
        # Requests beyond the pool wait for a connection instead, at most POOL_TIMEOUT.
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        # No pre-ping: it costs a round trip per checkout on every request. A connection the
        # server dropped fails its statement once and is then discarded by the pool.
        pool_pre_ping=False,
        pool_recycle=1800,
    )


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for single statements: autocommit, so no BEGIN/COMMIT/ROLLBACK round trips.

    Each statement is then its own transaction; use ``engine.begin()`` when several must be one.
    """
    async with engine.connect() as plain:
        yield await plain.execution_options(isolation_level="AUTOCOMMIT")


@asynccontextmanager
async def driver(engine: AsyncEngine) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A pooled connection's own psycopg connection, in autocommit, for a hot single statement.

    SQLAlchemy's async execution layer costs several times a statement's own client CPU (one
    prepared statement: about 120 µs against 25 µs through psycopg, measured); the few
    statements on a role's hottest path use psycopg directly, on the same pool. The connection
    goes back to the pool as it came (autocommit off, no transaction open), whatever happened;
    one the server dropped is invalidated rather than handed to the next request.
    """
    async with engine.connect() as connection:
        pooled = await connection.get_raw_connection()
        conn: psycopg.AsyncConnection[Any] = pooled.driver_connection  # type: ignore[assignment]
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            if conn.broken or conn.closed:
                await connection.invalidate()  # the server is gone: not for the next request
            else:
                # What SQLAlchemy expects of a pooled connection; after an error too (a
                # deadlock, a cancelled statement), or the next ``begin()`` would autocommit.
                try:
                    await conn.set_autocommit(False)
                except psycopg.Error:  # a statement cut off midway: the state is unknown
                    await connection.invalidate()


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def ensure_database(url: str) -> bool:
    """Create the URL's database when it does not exist; return whether it was created.

    CREATE DATABASE cannot run inside a transaction, so this talks to the server's maintenance
    database with a plain autocommit psycopg connection.
    """
    target = normalise_url(url)
    name = target.database
    if not name:
        raise ValueError("the database URL names no database")
    maintenance = target.set(database="postgres", drivername="postgresql")
    conninfo = maintenance.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if exists:
            return False
        try:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            return False  # created concurrently by another migrate run
        return True


class DatabaseUnavailable(Problem):
    status = 503
    slug = "database-unavailable"
    title = "The database is unavailable; try again shortly"


def _on_database_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # A lost or restarted server surfaces as a DBAPI error on the next statement (there is no
    # pre-ping); the pool has already discarded that connection. The client may retry.
    _log.warning("database_error", error_type=type(exc).__name__)
    problem = DatabaseUnavailable(headers={"Retry-After": "2"})
    return problem_response(problem.document(), problem.headers)


def exception_handlers() -> ExceptionHandlersMap:
    """Handlers a role owning a database adds to its app."""
    # A pool timeout (every connection busy for POOL_TIMEOUT) is overload: 503, not a 500.
    # psycopg's own errors reach here from the statements run on the driver (``driver``).
    return {
        DBAPIError: _on_database_error,
        PoolTimeout: _on_database_error,
        psycopg.OperationalError: _on_database_error,
    }
