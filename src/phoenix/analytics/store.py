"""ClickHouse access: one store interface, two backends, the same SQL on both.

``ServerStore`` speaks the native protocol to a ClickHouse server (clickhouse-driver);
``EmbeddedStore`` runs chDB in this process (the default when no server is configured). Both
take exactly the same SQL text — migrations, the retry check, retention and reports — so that
SQL is written once for the oldest server we support (Debian's 18.16: no LowCardinality, no
TTL, no insert deduplication for plain MergeTree) and checked against both by the same tests.

Everything here is blocking; the app calls it from a worker thread. Each backend serialises
its own calls, since neither a driver connection nor a chDB session may be shared by threads.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from importlib import resources
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

import msgspec

# The order of the columns of `events` that ingest fills (insert_marker is added per insert).
EVENT_COLUMNS: Final = (
    "hour",
    "type",
    "platform",
    "app_version",
    "region",
    "outcome",
    "latency_bucket",
    "duration_bucket",
    "data_bucket",
    "throughput_bucket",
    "blocked_mb_bucket",
    "blocked_requests_bucket",
    "time_saved_bucket",
)
Value = int | float | str
# Events column by column, one sequence per name in EVENT_COLUMNS: the hours as Unix seconds,
# then strings. Ingest builds its columns as it decodes (service.to_columns), so an insert hands
# the driver its columns as they are, with no row-to-column pass over every event.
Columns = Sequence[Sequence[Value]]

_INSERT: Final = "INSERT INTO events ({}) VALUES".format(
    ", ".join((*EVENT_COLUMNS, "insert_marker"))
)
# How long a query may take once connected. Generous: an insert the client gives up on may
# still land on the server after the writer's retry has checked for it (see writer.py).
IO_TIMEOUT: Final = 60.0
# fullmatch, not match with `$`: that would take "events\n" (a `$` matches before a final newline).
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Every table partitioned by month: retention drops the same partitions in each.
PARTITIONED_TABLES: Final = (
    "events",
    "connection_hourly",
    "session_hourly",
    "blocking_hourly",
    "latency_hourly",
    "throughput_hourly",
)


class StoreError(Exception):
    """The store could not do what was asked (unreachable, refused, or a SQL error)."""


class Store(Protocol):
    backend: str

    def execute(self, sql: str) -> None: ...

    def select(self, sql: str) -> list[tuple[Value, ...]]:
        """Rows of numbers and strings only: queries select hours as toUnixTimestamp()."""
        ...

    def insert(self, columns: Columns, marker: int) -> None:
        """One INSERT: ``marker`` goes on the first row, 0 on the rest (see 0001_events.sql)."""
        ...

    def close(self) -> None: ...


def check_identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain ClickHouse identifier")
    return name


class ServerStore:
    """A ClickHouse server over the native protocol."""

    backend = "server"

    def __init__(self, url: str, timeout: float = 10.0, io_timeout: float = IO_TIMEOUT) -> None:
        from clickhouse_driver import Client  # the embedded default never loads the driver

        self.database = check_identifier(urlsplit(url).path.lstrip("/") or "default")
        url = _with_timeouts(url, timeout, io_timeout)
        # Two connections, so a report never waits behind a flush (and the other way round).
        self._writer = Client.from_url(url)
        self._reader = Client.from_url(url)
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()

    def execute(self, sql: str) -> None:
        with self._write_lock:
            self._run(self._writer, sql)

    def select(self, sql: str) -> list[tuple[Value, ...]]:
        with self._read_lock:
            rows: list[tuple[Value, ...]] = self._run(self._reader, sql)
        return rows

    def insert(self, columns: Columns, marker: int) -> None:
        rows = _rows(columns)
        if not rows:
            return
        data = [*columns, [marker] + [0] * (rows - 1)]
        with self._write_lock:
            self._run(self._writer, _INSERT, data, columnar=True, types_check=False)

    def close(self) -> None:
        for client in (self._writer, self._reader):
            client.disconnect()

    @staticmethod
    def _run(client: Any, sql: str, *params: Any, **options: Any) -> Any:
        from clickhouse_driver.errors import Error as DriverError

        try:
            return client.execute(sql, *params, **options)
        except (DriverError, OSError, EOFError) as error:
            raise StoreError(f"{type(error).__name__}: {_first_line(error)}") from error


def _with_timeouts(url: str, connect: float, io: float) -> str:
    """The driver takes its options from the URL's query; the URL's own win."""
    parts = urlsplit(url)
    options = {"connect_timeout": str(connect), "send_receive_timeout": str(io)}
    options.update(parse_qsl(parts.query))
    return parts._replace(query=urlencode(options)).geturl()


class EmbeddedStore:
    """chDB in this process: a directory on disk, no server. One process per directory."""

    backend = "embedded"

    def __init__(self, path: str, database: str = "default") -> None:
        self.path = path
        self.database = check_identifier(database)
        self._connection: Any = None  # opened on first use: building an app locks nothing
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        import chdb  # loaded only when no server is configured

        connect: Any = chdb.connect  # untyped in chDB
        connection = connect(self.path)
        # Same answers as the driver: numbers as JSON numbers, not quoted 64-bit strings.
        connection.query("SET output_format_json_quote_64bit_integers = 0")
        if self.database != "default":
            connection.query(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            connection.query(f"USE {self.database}")
        return connection

    def execute(self, sql: str) -> None:
        self._query(sql)

    def select(self, sql: str) -> list[tuple[Value, ...]]:
        result = self._query(sql, "JSONCompact")
        decoded = msgspec.json.decode(result.bytes(), type=_Answer)
        return [tuple(row) for row in decoded.data]

    def insert(self, columns: Columns, marker: int) -> None:
        rows = _rows(columns)
        if not rows:
            return
        body = msgspec.json.encode([*columns, [marker] + [0] * (rows - 1)]).decode()
        names = ", ".join((*EVENT_COLUMNS, "insert_marker"))
        self._query(f"INSERT INTO events ({names}) FORMAT JSONCompactColumns\n{body}")

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _query(self, sql: str, output: str = "CSV") -> Any:
        with self._lock:
            try:
                if self._connection is None:
                    self._connection = self._connect()
                return self._connection.query(sql, output)
            except Exception as error:  # chDB raises its own exception types for SQL errors
                raise StoreError(f"{type(error).__name__}: {_first_line(error)}") from error


def _rows(columns: Columns) -> int:
    if len(columns) != len(EVENT_COLUMNS):
        raise ValueError(f"{len(columns)} columns, not the {len(EVENT_COLUMNS)} of EVENT_COLUMNS")
    rows = len(columns[0])
    if any(len(column) != rows for column in columns):
        raise ValueError("columns of different lengths")
    return rows


class _Answer(msgspec.Struct):
    data: list[list[Value]]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def open_store(clickhouse_url: str, chdb_path: str, timeout: float = 10.0) -> Store:
    """The configured server, else the embedded engine (the default, as DESIGN §6 says)."""
    if clickhouse_url:
        return ServerStore(clickhouse_url, timeout)
    return EmbeddedStore(chdb_path)


# --- migrations --------------------------------------------------------------------------------


class Migration(msgspec.Struct, frozen=True):
    version: int
    name: str
    statements: tuple[str, ...]


def migrations() -> list[Migration]:
    """The numbered ``migrations/NNNN_name.sql`` files of this package, in order."""
    found = []
    for entry in resources.files("phoenix.analytics").joinpath("migrations").iterdir():
        match = re.fullmatch(r"(\d{4})_([a-z0-9_]+)\.sql", entry.name)
        if match:
            found.append(
                Migration(int(match[1]), match[2], split_statements(entry.read_text("utf-8")))
            )
    found.sort(key=lambda m: m.version)
    return found


def split_statements(text: str) -> tuple[str, ...]:
    # Comments are dropped whole-line; our migrations keep ';' out of them.
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return tuple(part.strip() for part in "\n".join(lines).split(";") if part.strip())


def ensure_database(url: str) -> bool:
    """Create the server URL's database when missing; return whether it had to be created."""
    from clickhouse_driver import Client

    parts = urlsplit(url)
    database = check_identifier(parts.path.lstrip("/") or "default")
    client = Client.from_url(parts._replace(path="/default").geturl())
    try:
        # system.databases, not EXISTS DATABASE: 18.16 does not know the latter. The name has
        # passed check_identifier, so it cannot close the quotes.
        found = client.execute(
            f"SELECT count() FROM system.databases WHERE name = '{database}'"  # noqa: S608
        )
        exists = found[0][0] == 1
        if not exists:
            client.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
        return not exists
    finally:
        client.disconnect()


def migrate(store: Store) -> list[int]:
    """Apply the migrations not yet recorded; return the versions applied now. Idempotent."""
    store.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version UInt32, name String, applied DateTime('UTC')) "
        "ENGINE = MergeTree() ORDER BY version"
    )
    done = {int(row[0]) for row in store.select("SELECT version FROM schema_migrations")}
    applied = []
    for migration in migrations():
        if migration.version in done:
            continue
        for statement in migration.statements:
            store.execute(statement)  # every statement is IF NOT EXISTS: a rerun is harmless
        # INSERT ... SELECT, not VALUES: the driver would wait to send a data block for VALUES.
        store.execute(
            "INSERT INTO schema_migrations (version, name, applied) "
            f"SELECT {migration.version}, '{migration.name}', now()"
        )
        applied.append(migration.version)
    return applied


# --- the retry check and retention -------------------------------------------------------------


def landed(store: Store, columns: Columns, marker: int) -> bool:
    """Whether an insert of ``columns`` carrying ``marker`` is already in the table.

    One INSERT into one monthly partition is written as one part, atomically: all of it or
    nothing. So the marker row being there means the whole insert is.
    """
    low = min(int(hour) for hour in columns[0])
    high = max(int(hour) for hour in columns[0])
    found = store.select(
        "SELECT count() FROM events "  # noqa: S608 - integers only
        f"WHERE hour >= toDateTime({low}, 'UTC') AND hour <= toDateTime({high}, 'UTC') "
        f"AND insert_marker = {int(marker)}"
    )
    return int(found[0][0]) > 0


def drop_partitions_before(store: Store, keep_from: int) -> list[str]:
    """Drop every monthly partition older than ``keep_from`` (YYYYMM) in every table."""
    dropped = []
    for table in PARTITIONED_TABLES:
        partitions = store.select(
            "SELECT DISTINCT partition FROM system.parts "  # noqa: S608 - our own table names
            f"WHERE database = currentDatabase() AND table = '{table}' AND active"
        )
        for (partition,) in partitions:
            month = int(str(partition).strip("'"))
            if month < keep_from:
                store.execute(f"ALTER TABLE {table} DROP PARTITION {month}")
                dropped.append(f"{table}:{month}")
    return sorted(dropped)
