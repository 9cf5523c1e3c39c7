"""Structured JSON logs on stdout.

Every log line in every role goes through structlog's JSON renderer, including the standard
library's loggers (SQLAlchemy, Dramatiq, the ASGI server), so one redaction rule covers them all.
Phoenix never logs a client address, a query string or credentials; the access log
(:mod:`phoenix.common.accesslog`) is built to make that impossible rather than merely unlikely.
"""

from __future__ import annotations

import logging
import sys
from typing import Final

import structlog

_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS_DEFAULT: Final = logging.ERROR

# Loggers of libraries we run that would otherwise print a peer address (uvicorn/granian access
# logs carry the client's host:port). They are silenced outright, whatever the level.
_SILENCED: Final = ("uvicorn.access", "granian.access", "_granian.access")


def configure_logging(level: str = "info", role: str | None = None) -> None:
    numeric = _LEVELS.get(level, _LEVELS_DEFAULT)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if role is not None:
        structlog.contextvars.bind_contextvars(role=role)
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in _SILENCED:
        silenced = logging.getLogger(name)
        silenced.handlers[:] = []
        silenced.propagate = False
        silenced.disabled = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
