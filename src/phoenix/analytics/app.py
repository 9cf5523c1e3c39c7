"""The analytics role's app factory."""

from __future__ import annotations

from litestar import Litestar

from phoenix.analytics.settings import AnalyticsSettings
from phoenix.common.web import build_app

ROLE = "analytics"


def create_app(settings: AnalyticsSettings) -> Litestar:
    return build_app(role=ROLE, settings=settings)
