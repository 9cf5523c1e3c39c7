"""Settings of the analytics role: nothing that reaches a user, a node or a SQL database."""

from __future__ import annotations

import importlib.util
import re
from typing import Annotated, Final

from phoenix.analytics.coarse import Coarsening
from phoenix.analytics.schemas import APP_VERSION, MAX_IDENTIFYING_BITS, REGION_CODE
from phoenix.settings import SECRET, CommonSettings, SettingsError

# The fleet's locations as this repository names them: the README's and tests' examples, the
# bench's regions, and `make dev`'s own node (phoenix.dev.local_node). Analytics cannot read
# NodeDB (it imports no other role and no SQL driver), so a deployment lists its own.
FLEET_LOCATIONS: Final = (
    "de-fra",
    "nl-ams",
    "se-sto",
    "us-nyc",
    "sg-sin",
    "br-gru",
    "zz-local",
)


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
    # Regions stored as themselves (comma-separated codes like de-fra); any other is "other".
    analytics_regions: tuple[str, ...] = FLEET_LOCATIONS
    # Versions stored as themselves (comma-separated, major.minor); any other is "other".
    # Empty: each version is stored as its major ("1.4" -> "1.x"; coarse.MAX_COARSE_MAJOR).
    analytics_app_versions: tuple[str, ...] = ()

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
        if not self.clickhouse_url and importlib.util.find_spec("chdb") is None:
            # The analytics image carries no embedded engine (the `embedded` extra is make dev's).
            raise SettingsError(
                "PHOENIX_CLICKHOUSE_URL",
                "missing, and the embedded engine (chDB) is not installed: give a ClickHouse URL",
            )
        if not self.analytics_regions:
            raise SettingsError("PHOENIX_ANALYTICS_REGIONS", "must name at least one region")
        for region in self.analytics_regions:
            if not re.search(REGION_CODE, region):
                raise SettingsError("PHOENIX_ANALYTICS_REGIONS", f"{region!r} is not like de-fra")
        for version in self.analytics_app_versions:
            if not re.search(APP_VERSION, version):
                raise SettingsError(
                    "PHOENIX_ANALYTICS_APP_VERSIONS", f"{version!r} is not like 1.4"
                )
        # The lists set how many values region and app_version are stored as, and so how much
        # one event can say about who sent it: refused at start beyond the budget.
        bits = self.coarsening.bits()
        if bits > MAX_IDENTIFYING_BITS:
            raise SettingsError(
                "PHOENIX_ANALYTICS_REGIONS",
                f"with PHOENIX_ANALYTICS_APP_VERSIONS, one event could carry {bits:.1f} "
                f"identifying bits, over {MAX_IDENTIFYING_BITS:g}: list fewer regions or versions",
            )

    @property
    def coarsening(self) -> Coarsening:
        return Coarsening(self.analytics_regions, self.analytics_app_versions)
