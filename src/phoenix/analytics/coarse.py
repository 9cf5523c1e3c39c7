"""What the two fields a client fills in itself become before they are stored.

``region`` and ``app_version`` are the only event fields that are not closed enumerations on the
wire. Each is stored as one of a few values: a region listed in PHOENIX_ANALYTICS_REGIONS, a
version listed in PHOENIX_ANALYTICS_APP_VERSIONS (or, without a list, the version's major), or
OTHER. So however a client fills them in, an event lands as one of a number of kinds that
``bits()`` states and the settings bound.

Why an unlisted region becomes OTHER rather than refusing the batch: locations are added to the
fleet by the config role, and analytics cannot see them (it reads no NodeDB). Refusing would
drop every batch (its blocking summaries too) from apps that connected to a new location until
the list catches up; OTHER keeps those events and costs one value, and a growing OTHER row in
the heatmap tells the operator to extend the list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from phoenix.analytics.schemas import OTHER, identifying_bits

# Without a version list, a version is stored as its major ("1.4" -> "1.x") for majors 0 to
# this, a higher one as OTHER: six values, leaving the region list room under the budget.
MAX_COARSE_MAJOR: Final = 4
COARSE_VERSIONS: Final = frozenset(f"{major}.x" for major in range(MAX_COARSE_MAJOR + 1))


class Coarsening:
    """The stored values of region and app_version, and the mapping onto them."""

    def __init__(self, regions: Iterable[str], app_versions: Iterable[str] = ()) -> None:
        self._listed_regions = frozenset(regions)
        self._listed_versions = frozenset(app_versions)
        self.regions: frozenset[str] = self._listed_regions | {OTHER}
        self.app_versions: frozenset[str] = (self._listed_versions or COARSE_VERSIONS) | {OTHER}

    def region(self, code: str) -> str:
        return code if code in self._listed_regions else OTHER

    def app_version(self, version: str) -> str:
        """``version`` has passed schemas.APP_VERSION (major.minor, digits only)."""
        if self._listed_versions:
            return version if version in self._listed_versions else OTHER
        major = int(version.partition(".")[0])
        return f"{major}.x" if major <= MAX_COARSE_MAJOR else OTHER

    def bits(self) -> float:
        """The identifying capacity of one stored event (schemas.identifying_bits)."""
        return identifying_bits(len(self.regions), len(self.app_versions))
