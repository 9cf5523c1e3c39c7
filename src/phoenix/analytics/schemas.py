"""The event schema and the report answers: msgspec Structs at the edge.

Every bucket is a closed enumeration defined here and nowhere else; the OpenAPI document
publishes them. No event has a free-text field or an identifier of any kind (no session, device
or user id, no timestamp): a client cannot send what would single a person out, and the server
stamps the hour itself.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec

MAX_EVENTS: Final = 100


def whole(body: str) -> str:
    r"""A pattern matching ``body`` with nothing before or after it.

    ``^...$`` is not enough: msgspec's ``Meta(pattern=...)`` runs Python's ``re.search``, where
    ``$`` also matches before a trailing newline ("1.4\n" passed). ``\Z`` would fix Python but
    is not ECMA-262, the dialect the published OpenAPI patterns are read in; ``(?![\s\S])``
    ("no character follows") means the same in both.
    """
    return rf"^(?:{body})(?![\s\S])"


# The fleet's location codes, as the config role names them (config.schemas.LocationCode;
# repeated here because analytics may not import config). A well-formed code outside
# PHOENIX_ANALYTICS_REGIONS is stored as OTHER, so the pattern only keeps junk out.
REGION_CODE: Final = whole(r"[a-z]{2}-[a-z0-9]{2,20}")
APP_VERSION: Final = whole(r"[0-9]{1,3}\.[0-9]{1,3}")
# What a region or version outside the configured lists is stored as (phoenix.analytics.coarse).
OTHER: Final = "other"
# The identifying capacity of one stored event, in bits: log2 of how many different events a
# client can make land. 16 bits: one event can tell apart at most 65,536 kinds of sender, and
# in practice most of them are the same few; tests/unit/analytics/test_identifying_bits.py.
MAX_IDENTIFYING_BITS: Final = 16.0

Platform = Literal["ios", "android", "macos", "windows", "linux"]
Outcome = Literal["ok", "timeout", "handshake_failed", "no_capacity", "token_rejected"]
LatencyBucket = Literal["<100ms", "100-300ms", "300ms-1s", "1-3s", ">3s"]
DurationBucket = Literal["<1min", "1-10min", "10-60min", "1-4h", ">4h"]
DataBucket = Literal["<100MB", "100MB-1GB", "1GB-5GB", ">5GB"]
ThroughputBucket = Literal["<1Mbps", "1-10Mbps", "10-50Mbps", "50-200Mbps", ">200Mbps"]
BlockedMbBucket = Literal["<1MB", "1-10MB", "10-100MB", ">100MB"]
BlockedRequestsBucket = Literal["<10", "10-100", "100-1000", ">1000"]
TimeSavedBucket = Literal["<1s", "1-10s", "10-60s", "1-10min", ">10min"]

# The value report adds up buckets, so each bucket stands for one representative amount (its
# geometric middle; the open top bucket its lower bound). A unit test checks that these keys
# are exactly the Literals above, so a bucket cannot be added without its estimate.
BLOCKED_MB_ESTIMATE: Final[dict[str, float]] = {
    "<1MB": 0.5,
    "1-10MB": 3.2,
    "10-100MB": 32.0,
    ">100MB": 100.0,
}
BLOCKED_REQUESTS_ESTIMATE: Final[dict[str, float]] = {
    "<10": 5.0,
    "10-100": 32.0,
    "100-1000": 316.0,
    ">1000": 1000.0,
}
TIME_SAVED_SECONDS_ESTIMATE: Final[dict[str, float]] = {
    "<1s": 0.5,
    "1-10s": 3.2,
    "10-60s": 24.5,
    "1-10min": 245.0,
    ">10min": 600.0,
}

Region = Annotated[
    str,
    msgspec.Meta(
        pattern=REGION_CODE,
        description="A location code: de-fra. One the server does not list is stored as 'other'.",
    ),
]
AppVersion = Annotated[
    str,
    msgspec.Meta(
        pattern=APP_VERSION,
        description="major.minor only; stored as one of the server's listed versions, as "
        "'major.x', or as 'other'",
    ),
]


class _Event(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type"
):
    platform: Platform
    app_version: AppVersion


class ConnectionAttempt(_Event, frozen=True, kw_only=True, tag="connection_attempt"):
    region: Region
    outcome: Outcome
    latency_bucket: LatencyBucket


class SessionSummary(_Event, frozen=True, kw_only=True, tag="session_summary"):
    region: Region
    duration_bucket: DurationBucket
    data_bucket: DataBucket
    throughput_bucket: ThroughputBucket


class BlockingSummary(_Event, frozen=True, kw_only=True, tag="blocking_summary"):
    blocked_mb_bucket: BlockedMbBucket
    blocked_requests_bucket: BlockedRequestsBucket
    time_saved_bucket: TimeSavedBucket


Event = ConnectionAttempt | SessionSummary | BlockingSummary


def identifying_bits(regions: int, app_versions: int) -> float:
    """log2 of how many different events a client can make land, with ``region`` and
    ``app_version`` stored as one of ``regions`` and ``app_versions`` values.

    Read from the Structs above, so a new field or a wider enumeration changes it: a Literal
    counts its values, a field of any other kind counts as unbounded (infinite bits).
    Settings refuse lists that would take it over MAX_IDENTIFYING_BITS.
    """
    stored = {"region": regions, "app_version": app_versions}
    union = msgspec.inspect.type_info(Event)
    assert isinstance(union, msgspec.inspect.UnionType)
    kinds = 0.0
    for member in union.types:
        assert isinstance(member, msgspec.inspect.StructType)
        count = 1.0
        for field in member.fields:
            info: Any = field.type
            if isinstance(info, msgspec.inspect.LiteralType):
                count *= len(info.values)
            elif field.name in stored:
                count *= stored[field.name]
            else:
                count = math.inf
        kinds += count
    return math.log2(kinds)


class EventBatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    events: Annotated[list[Event], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]


# --- decoding fast ---------------------------------------------------------------------------
# msgspec checks a pattern by calling Python's re once per value: two thirds of the time it took
# to decode a batch of 100 (68 of 100 us). The ingest decoder therefore takes the same events with
# region and app_version left unchecked, then checks those against the same patterns once per
# distinct value (remembered, since the values are few). Anything either step refuses is decoded
# again by EventBatch itself, so the error, and the index it names, are exactly EventBatch's.


class _ConnectionAttempt(ConnectionAttempt, frozen=True, kw_only=True, tag="connection_attempt"):
    app_version: str
    region: str


class _SessionSummary(SessionSummary, frozen=True, kw_only=True, tag="session_summary"):
    app_version: str
    region: str


class _BlockingSummary(BlockingSummary, frozen=True, kw_only=True, tag="blocking_summary"):
    app_version: str


class _UncheckedBatch(EventBatch, frozen=True, forbid_unknown_fields=True):
    events: Annotated[  # type: ignore[assignment]  # a list of the subclasses of Event's members
        list[_ConnectionAttempt | _SessionSummary | _BlockingSummary],
        msgspec.Meta(min_length=1, max_length=MAX_EVENTS),
    ]


class _Checked:
    """Distinct values known to match one pattern; forgotten whole once it holds ``limit``."""

    def __init__(self, pattern: str, limit: int = 4096) -> None:
        self._search = re.compile(pattern).search  # what msgspec's Meta(pattern=...) calls
        self._known: set[str] = set()
        self._limit = limit

    def all_match(self, values: set[str]) -> bool:
        if values <= self._known:
            return True
        for value in values - self._known:
            if not self._search(value):
                return False
            if len(self._known) >= self._limit:
                self._known.clear()
            self._known.add(value)
        return True


_unchecked = msgspec.json.Decoder(_UncheckedBatch)
_strict = msgspec.json.Decoder(EventBatch)
_regions = _Checked(REGION_CODE)
_app_versions = _Checked(APP_VERSION)


def decode_events(body: bytes) -> EventBatch:
    """``msgspec.json.decode(body, type=EventBatch)``, raising just what it raises, faster."""
    try:
        batch = _unchecked.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        batch = None
    if batch is not None:
        events = batch.events
        versions = {event.app_version for event in events}
        # type(), not isinstance(): a failed isinstance on a Struct subclass is slow (7.8 us
        # for this set over 100 events, against 2.5).
        regions = {e.region for e in events if type(e) is not _BlockingSummary}  # type: ignore[union-attr]
        if _app_versions.all_match(versions) and _regions.all_match(regions):
            return batch
    return _strict.decode(body)


class Accepted(msgspec.Struct, frozen=True):
    accepted: int


# --- reports -----------------------------------------------------------------------------------


class FailureCell(msgspec.Struct, frozen=True):
    """One region x hour cell of the heatmap, built from at least ``min_events`` attempts.

    A cell with fewer is left out, not sent as "suppressed": such a cell would still name a
    region and an hour in which someone connected, which is what suppression hides. An absent
    cell reads the same whether it had a few attempts or none.
    """

    region: str
    hour: datetime
    attempts: int
    failures: int
    failure_rate: float


class FailureReport(msgspec.Struct, frozen=True):
    from_hour: datetime
    to_hour: datetime
    min_events: int
    cells: list[FailureCell]


class MedianCell(msgspec.Struct, frozen=True):
    """One region x hour cell of the latency or throughput heatmap, built from at least
    ``min_events`` events; a smaller cell is left out, as a FailureCell is.

    ``median_bucket`` is the bucket holding the middle event (the lower of the two middle ones
    for an even count). Not a mean or an interpolated figure: the buckets are ordered ranges
    whose top one is open, so any number between their bounds would be precision the data does
    not have. And not a high percentile: the median is set by half the cell's events, where a
    p90 of a cell of k could be set by one person's connection.
    """

    region: str
    hour: datetime
    events: int
    median_bucket: str


class MedianHeatmap(msgspec.Struct, frozen=True):
    buckets: list[str]  # the scale, lowest first: median_bucket is one of these
    cells: list[MedianCell]


class PerformanceReport(msgspec.Struct, frozen=True):
    """``latency``: of successful connection attempts only (a failed attempt's latency is how
    long it took to fail, which the failure heatmap already shows). ``throughput``: of session
    summaries."""

    from_hour: datetime
    to_hour: datetime
    min_events: int
    latency: MedianHeatmap
    throughput: MedianHeatmap


class BucketCount(msgspec.Struct, frozen=True, omit_defaults=True):
    bucket: str
    suppressed: bool = False
    events: int | None = None


class UsageReport(msgspec.Struct, frozen=True):
    from_hour: datetime
    to_hour: datetime
    min_events: int
    duration: list[BucketCount]
    data: list[BucketCount]


class ValueReport(msgspec.Struct, frozen=True, omit_defaults=True):
    """Totals estimated from buckets; absent (suppressed) when built from too few summaries."""

    from_hour: datetime
    to_hour: datetime
    min_events: int
    suppressed: bool = False
    summaries: int | None = None
    blocked_mb: float | None = None
    blocked_requests: float | None = None
    time_saved_seconds: float | None = None


class RetentionResult(msgspec.Struct, frozen=True):
    keep_from_month: str
    dropped_partitions: list[str]
