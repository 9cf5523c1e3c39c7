"""Runs a role's ASGI app under Granian.

Granian (a Rust HTTP server) was chosen over uvicorn by measurement: see bench/asgi_servers.py
and the README's "Performance" section. Its access log stays off — it would print client
addresses; our own access log (phoenix.common.accesslog) carries none.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from granian.log import LogLevels

from phoenix.common.logging import server_log_config
from phoenix.settings import CommonSettings

FACTORY = "phoenix.app:app_from_environment"


def serve(role: str, settings: CommonSettings, *, host: str, port: int, workers: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    os.environ["PHOENIX_ROLE"] = role
    metrics_dir = _multiprocess_metrics_dir() if workers > 1 else None
    try:
        Granian(
            FACTORY,
            factory=True,
            interface=Interfaces.ASGI,
            address=host,
            port=port,
            workers=workers,
            log_enabled=True,
            log_dictconfig=server_log_config(),
            log_access=False,
            log_level=_granian_level(settings.log_level),
            respawn_failed_workers=True,
            workers_kill_timeout=35,  # longer than the worker role's job drain
        ).serve()
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _multiprocess_metrics_dir() -> str:
    # Several processes answer /metrics; prometheus_client's multiprocess mode sums them.
    directory = tempfile.mkdtemp(prefix="phoenix-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


def _granian_level(level: str) -> LogLevels:
    return LogLevels(level)
