"""A ClickHouse server of the tests' own: Debian's clickhouse-server on private ports.

Never the machine's system service: a config of our own names a data directory under the test
run's temporary directory, loopback-only ports picked free at start, and a passwordless
`default` user reachable from 127.0.0.1 only. ``stop``/``start`` keep the data and the ports,
so a test can take the server away and bring it back (the writer's outage tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from phoenix.dev.launcher import NotReady, Process, ProcessExited
from phoenix.dev.probes import free_port

BINARY: Final = "/usr/sbin/clickhouse-server"

_CONFIG: Final = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{dir}/server.log</log><errorlog>{dir}/error.log</errorlog>
  </logger>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/data/tmp/</tmp_path>
  <user_files_path>{dir}/data/user_files/</user_files_path>
  <format_schema_path>{dir}/data/format_schemas/</format_schema_path>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <users_config>{dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
</yandex>
"""

_USERS: Final = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


class ClickHouseServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.tcp_port = free_port()
        self.http_port = free_port()
        self.process: Process | None = None
        self._configured = False

    @staticmethod
    def available() -> bool:
        return Path(BINARY).is_file()

    def url(self, database: str = "default") -> str:
        return f"clickhouse://default@127.0.0.1:{self.tcp_port}/{database}"

    def start(self, timeout: float = 30.0) -> ClickHouseServer:
        config = self.directory / "config.xml"
        if self.process is None and not self._configured:  # this object's ports, not a past one's
            (self.directory / "data").mkdir(parents=True, exist_ok=True)
            values = {"dir": self.directory, "tcp": self.tcp_port, "http": self.http_port}
            config.write_text(_CONFIG.format(**values))
            (self.directory / "users.xml").write_text(_USERS)
            self._configured = True
        self.process = Process(
            [BINARY, f"--config-file={config}"],
            cwd=self.directory,
            log=self.directory / "stdout.log",
            append=True,
        )
        try:
            self.process.wait_ready(self._answers, timeout, "clickhouse-server")
        except (ProcessExited, NotReady) as error:
            raise type(error)(f"{error}\n{self.logs()}") from None  # error.log says why
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=30)
        self.process = None

    def query(self, sql: str, database: str = "default") -> list[tuple[object, ...]]:
        from clickhouse_driver import Client

        client = Client.from_url(self.url(database))
        try:
            rows: list[tuple[object, ...]] = client.execute(sql)
            return rows
        finally:
            client.disconnect()

    def logs(self) -> str:
        parts = []
        for name in ("stdout.log", "error.log"):
            path = self.directory / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-2000:])
        return "\n".join(parts)

    def _answers(self) -> bool:
        try:
            return self.query("SELECT 1") == [(1,)]
        except Exception:  # not up yet: refused, reset or half-started
            return False


def count_events(url: str) -> int:
    """Rows in ``events`` of the database at ``url`` (tests and the benchmark read it so)."""
    from phoenix.analytics.store import ServerStore

    store = ServerStore(url)
    try:
        return int(store.select("SELECT count() FROM events")[0][0])
    finally:
        store.close()
