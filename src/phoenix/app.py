"""The composition root: builds the app of exactly one role.

A role is imported by name from a fixed map, so starting one role never imports another: the
privacy boundary of importlinter.ini is also a fact of every running process (checked by
`phoenix boundary-report` and its tests).
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Final, Literal, cast, get_args

import msgspec
from litestar import Litestar

from phoenix import settings as settings_module

Role = Literal["auth", "config", "analytics", "worker"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)

# role -> (settings module:class, app module). Strings, so nothing is imported until chosen.
_ROLE_MODULES: Final[dict[Role, tuple[str, str, str]]] = {
    "auth": ("phoenix.auth.settings", "AuthSettings", "phoenix.auth.app"),
    "config": ("phoenix.config.settings", "ConfigSettings", "phoenix.config.app"),
    "analytics": ("phoenix.analytics.settings", "AnalyticsSettings", "phoenix.analytics.app"),
    "worker": ("phoenix.worker.settings", "WorkerSettings", "phoenix.worker.app"),
}

DEFAULT_PORTS: Final[dict[Role, int]] = {
    "auth": 8081,
    "config": 8082,
    "analytics": 8083,
    "worker": 8084,
}
DEFAULT_OPS_PORTS: Final[dict[Role, int]] = {
    "auth": 9081,
    "config": 9082,
    "analytics": 9083,
    "worker": 9084,
}


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role  # narrowed by the membership test above


def settings_type(role: Role) -> type[settings_module.CommonSettings]:
    module_name, class_name, _ = _ROLE_MODULES[role]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cast(type[settings_module.CommonSettings], cls)


def load_settings(role: Role) -> settings_module.CommonSettings:
    """``role``'s settings from the environment, ``ops_port`` 0 resolved to the role's default
    (here, where the defaults live: `phoenix serve` and each of its workers see the same port)."""
    loaded = settings_module.load(settings_type(role))
    if loaded.ops_port == 0:
        loaded = msgspec.structs.replace(loaded, ops_port=DEFAULT_OPS_PORTS[role])
    return loaded


def create_app(role: Role, settings: msgspec.Struct | None = None) -> Litestar:
    """Build ``role``'s app from ``settings`` (read from the environment when not given)."""
    role_settings = settings if settings is not None else load_settings(role)
    app_module = importlib.import_module(_ROLE_MODULES[role][2])
    factory: Any = app_module.create_app
    app: Litestar = factory(role_settings)
    return app


def app_from_environment() -> Litestar:
    """ASGI factory for the server's worker processes: the role comes from PHOENIX_ROLE; the
    role's operations app listens on PHOENIX_OPS_HOST:PHOENIX_OPS_PORT while the app runs."""
    from phoenix.common.collector import Collector
    from phoenix.common.logging import configure_logging
    from phoenix.common.web import listen_for_operations

    role = check_role(os.environ.get("PHOENIX_ROLE", ""))
    role_settings = load_settings(role)
    configure_logging(role_settings.log_level, role)
    app = create_app(role, role_settings)
    listen_for_operations(app, role_settings.ops_host, role_settings.ops_port)
    collector = Collector()  # the cycle collector on a clock (phoenix.common.collector)
    app.on_startup.append(collector.start)
    app.on_shutdown.append(collector.stop)
    return app
