"""A PostgreSQL cluster of the test's own (initdb on a spare port), to stop and start at will.

Never the machine's shared server. The cluster lives in a temporary directory owned by the
`postgres` system user (initdb refuses to run as root), trusts local connections and keeps its
socket in its own directory, removed afterwards.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from phoenix.dev.probes import free_port
from tests.harness.processes import wait_for_port


def _binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class PrivatePostgres:
    def __init__(self) -> None:
        # Its own directory under /tmp: pytest's tmp_path sits below a root-only (0700) folder
        # that the postgres user cannot enter.
        self.directory = Path(tempfile.mkdtemp(prefix="phoenix-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def available() -> bool:
        return _binary("initdb") is not None and _binary("pg_ctl") is not None

    def _as_postgres(self, *command: str) -> None:
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=120)

    def init(self) -> PrivatePostgres:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        initdb = _binary("initdb")
        assert initdb is not None
        self._as_postgres(initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N")
        return self

    def start(self) -> None:
        pg_ctl = _binary("pg_ctl")
        assert pg_ctl is not None
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(pg_ctl, "-D", str(self.data), "-o", options, "-w", "start",
                          "-l", str(self.directory / "postgres.log"))  # fmt: skip
        wait_for_port(self.port)

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session (what a restart does to the roles' pools); `immediate` is
        a crash."""
        pg_ctl = _binary("pg_ctl")
        assert pg_ctl is not None
        self._as_postgres(pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop")

    async def restart_later(self, after: float, down: float, mode: str = "fast") -> None:
        """Wait ``after`` seconds, stop, stay down ``down`` seconds, start again (a fault test's
        outage, run alongside its load)."""
        await asyncio.sleep(after)
        await asyncio.to_thread(self.stop, mode)
        await asyncio.sleep(down)
        await asyncio.to_thread(self.start)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
