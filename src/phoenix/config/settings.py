"""Settings of the config role. No field here may name UserDB, signing keys, Firebase or billing."""

from __future__ import annotations

from typing import Annotated

from phoenix.settings import SECRET, CommonSettings


class ConfigSettings(CommonSettings, kw_only=True, frozen=True):
    # NodeDB (Postgres database phoenix_nodes); a secret because it may carry a password.
    nodedb_url: Annotated[str, SECRET]
    nodedb_pool_size: int = 10
    # Spent tokens, hot node metrics and peer-change notifications.
    redis_url: Annotated[str, SECRET] = "redis://127.0.0.1:6379/0"
