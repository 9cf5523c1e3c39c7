"""Settings of the analytics role: nothing that reaches a user, a node or a SQL database."""

from __future__ import annotations

from phoenix.settings import CommonSettings


class AnalyticsSettings(CommonSettings, kw_only=True, frozen=True):
    """The ClickHouse connection and ingest limits arrive with the analytics issue."""
