"""Settings of the analytics role: nothing that reaches a user, a node or a SQL database."""

from __future__ import annotations

import re
from typing import Annotated

from phoenix.settings import SECRET, CommonSettings, SettingsError

REGION_CODE = r"^[a-z]{2}-[a-z]{3}$"


class AnalyticsSettings(CommonSettings, kw_only=True, frozen=True):
    # A ClickHouse server over the native protocol, e.g. clickhouse://user:pw@host:9000/analytics
    # (a secret because it may carry a password). Empty: the embedded engine (chDB) at chdb_path.
    clickhouse_url: Annotated[str, SECRET] = ""
    # The embedded engine's data directory. One process only: chDB locks it.
    chdb_path: str = "analytics-data"
    # The operator's credential for reports, the page and retention (Bearer, or Basic password).
    operator_token: Annotated[str, SECRET] = ""
    # A report cell built from fewer events than this is suppressed.
    report_min_events: int = 10
    # Months of events kept; older monthly partitions are dropped by the retention endpoint.
    retention_months: int = 13
    # The ingest writer: flush after this many seconds or rows, refuse (503) beyond max rows held.
    flush_seconds: float = 1.0
    flush_rows: int = 10_000
    buffer_max_rows: int = 200_000
    # Global ingest rate (a token bucket over events; there is no client identity to key on).
    ingest_events_per_second: float = 50_000.0
    ingest_burst_events: int = 100_000
    # Regions events may name (comma-separated codes like de-fra). Empty: any well-formed code.
    analytics_regions: list[str] = []

    def __post_init__(self) -> None:
        if self.operator_token and len(self.operator_token) < 32:
            raise SettingsError("PHOENIX_OPERATOR_TOKEN", "needs at least 32 characters")
        if self.report_min_events < 2:
            raise SettingsError("PHOENIX_REPORT_MIN_EVENTS", "must be at least 2")
        if self.retention_months < 1:
            raise SettingsError("PHOENIX_RETENTION_MONTHS", "must be at least 1")
        if not 0 < self.flush_rows <= self.buffer_max_rows:
            raise SettingsError("PHOENIX_FLUSH_ROWS", "must be between 1 and buffer_max_rows")
        if self.flush_seconds <= 0:
            raise SettingsError("PHOENIX_FLUSH_SECONDS", "must be positive")
        if self.ingest_events_per_second <= 0 or self.ingest_burst_events < 100:
            raise SettingsError(
                "PHOENIX_INGEST_EVENTS_PER_SECOND", "rate must be positive and burst at least 100"
            )
        for region in self.analytics_regions:
            if not re.fullmatch(REGION_CODE, region):
                raise SettingsError("PHOENIX_ANALYTICS_REGIONS", f"{region!r} is not like de-fra")
