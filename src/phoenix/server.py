"""Runs a role's ASGI app under Granian.

Granian (a Rust HTTP server) was chosen over uvicorn by measurement: see bench/asgi_servers.py
and the README's "Performance" section. Its access log stays off — it would print client
addresses; our own access log (phoenix.common.accesslog) carries none.

Granian serves the public port. Each worker also serves the role's operations app (``/metrics``,
``/readyz``, ``/schema``) on ``PHOENIX_OPS_HOST:PHOENIX_OPS_PORT`` (phoenix.common.opslistener);
that address is checked here, once, so a taken port is one line and exit 2 rather than a crash
loop of workers.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile

from granian.log import LogLevels

from phoenix.common.logging import server_log_config
from phoenix.common.opslistener import check_free
from phoenix.settings import CommonSettings, SettingsError

FACTORY = "phoenix.app:app_from_environment"
LISTEN_BACKLOG = 4096  # the kernel caps it at net.core.somaxconn


def serve(role: str, settings: CommonSettings, *, host: str, port: int, workers: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    _check_ops_address(settings, port)
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
            # Connections past the accept queue's depth are refused by the kernel; the
            # backpressure bounds the requests handled at once (settings.max_requests).
            backlog=max(LISTEN_BACKLOG, settings.max_requests),
            backpressure=settings.max_requests,
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


def _check_ops_address(settings: CommonSettings, public_port: int) -> None:
    host, port = settings.ops_host, settings.ops_port
    if port == 0:  # phoenix.app.load_settings resolves it to the role's default
        raise SettingsError("PHOENIX_OPS_PORT", "0 was not resolved to the role's default")
    if port == public_port:
        raise SettingsError("PHOENIX_OPS_PORT", f"{port} is the public port; choose another")
    try:
        check_free(host, port)
    except socket.gaierror as error:
        raise SettingsError("PHOENIX_OPS_HOST", f"{host!r}: {error.strerror}") from None
    except OSError as error:
        variable = "PHOENIX_OPS_HOST" if error.errno == errno.EADDRNOTAVAIL else "PHOENIX_OPS_PORT"
        raise SettingsError(variable, f"cannot listen on {host}:{port}: {error.strerror}") from None


def _multiprocess_metrics_dir() -> str:
    # Several processes answer /metrics; prometheus_client's multiprocess mode sums them.
    directory = tempfile.mkdtemp(prefix="phoenix-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


def _granian_level(level: str) -> LogLevels:
    return LogLevels(level)
