"""Reconciliation: what a lost webhook left behind, repaired from the provider's own record.

Entitlement follows webhooks, and a delivery can be lost for good (an endpoint down past
Stripe's retry window). So, on a schedule (the worker calls ``POST /v1/admin/billing/reconcile``)
or by hand (``phoenix billing reconcile``), each provider is asked what changed since the last
run, and every change goes through the **same** code path its webhook takes: the same dedup row
(a change a webhook already applied is a ``duplicate``), the same ordering rules (state older
than what is stored is ignored), the same owner lookup (a deleted account finds no owner). So
running twice changes nothing, a reconciliation racing a webhook for one event applies it once,
and two different events end as the later one would leave them, whichever lands first.

Stripe: its List Events API, every handled type created after the cursor (Stripe keeps events
30 days), read in full — and a checkout's subscription with it — before anything is written, so
an outage changes nothing and the run fails to be retried. Each event is then applied in its own
transaction, as its delivery would have been.

A repair is counted and logged by provider and kind (the event type), never by user. A dry run
applies everything in one transaction it rolls back and reports what would change; it does not
move the cursor.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

import msgspec
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from phoenix.auth import metrics
from phoenix.auth.billing import apple, store, stripe_events
from phoenix.auth.billing.apple import AppleVerifier, Notification, UnverifiableNotification
from phoenix.auth.billing.apple_api import AppleApi
from phoenix.auth.billing.service import AppleWebhooks, StripeWebhooks
from phoenix.auth.billing.stripe_api import StripeBilling
from phoenix.auth.billing.stripe_events import Event, MalformedEvent, StripeSubscriptionObject
from phoenix.auth.models import BillingReconciliation
from phoenix.auth.schemas import Reconciled, Reconciliation
from phoenix.common.logging import get_logger

_log = get_logger("phoenix.auth.reconcile")

# A first run (no cursor) reads this far back: all Stripe keeps of its events, and a month of
# the App Store's notification history (it keeps 180 days: --since reaches further).
FIRST_RUN: Final = timedelta(days=30)
# Each run reads from this long before where the last one got: an event Stripe created just
# before a run began may be listed only after it. Dedup makes the overlap free of effect.
OVERLAP: Final = timedelta(minutes=10)
_RFC3339: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)
# The App Store subscriptions asked about: those whose paid period ends within STATUS_AHEAD
# (a renewal Apple may not notify) or ended within STATUS_BEHIND (a late renewal after billing
# retry, or an expiry never notified), and those in grace.
STATUS_AHEAD: Final = timedelta(days=1)
STATUS_BEHIND: Final = timedelta(days=60)
# What applying a change did when the stored state lacked it: a repair.
REPAIRED: Final = frozenset({"applied", "linked"})

Clock = Callable[[], datetime]
Applier = Callable[[AsyncConnection], Awaitable[str]]


def parse_since(text: str) -> datetime:
    """An RFC 3339 date-time (``2026-12-01T00:00:00Z``, an offset required), in UTC; ValueError
    saying why not. Parsed here rather than by the framework, which would also take ``0.5``
    (epoch seconds) for a time. As RFC 3339 allows: a leap second counts as the second before
    it, and digits past the microsecond are dropped."""
    found = _RFC3339.fullmatch(text)
    if found is None:
        if _RFC3339.fullmatch(text + "Z"):
            raise ValueError("since: give a time zone (e.g. 2026-12-01T00:00:00Z)")
        raise ValueError(f"since: {text[:40]!r} is not an RFC 3339 date-time")
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    if zone.upper() == "Z":
        offset = timedelta(0)
    else:
        sign = -1 if zone[0] == "-" else 1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            min(int(second), 59),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=timezone(offset),
        )
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"since: {text[:40]!r} is no date-time a calendar holds") from None


@dataclass(frozen=True)
class Repair:
    kind: str  # the event type
    outcome: str


@dataclass
class Report:
    source: str
    since: datetime
    dry_run: bool
    seen: int = 0
    unreadable: int = 0
    repairs: list[Repair] = field(default_factory=list)

    def by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for repair in self.repairs:
            counts[repair.kind] = counts.get(repair.kind, 0) + 1
        return counts


@dataclass(frozen=True)
class _Pending:
    """A change read from a provider, to apply inside a transaction; its outcome as the
    webhook's (``applied``, ``duplicate``, ``ignored: ...``)."""

    kind: str
    apply: Applier


# A change the webhook path refuses as unreadable is counted and skipped, not a failed run.
_UNREADABLE: Final = (MalformedEvent, msgspec.ValidationError, UnverifiableNotification)


class _Reconciliation(ABC):
    source: str

    def __init__(self, engine: AsyncEngine, now: Clock) -> None:
        self._engine = engine
        self._now = now

    @property
    @abstractmethod
    def configured(self) -> bool: ...

    @abstractmethod
    async def close(self) -> None:
        """Give back what the source holds (an HTTP client)."""

    @abstractmethod
    async def _read(self, after: datetime, until: datetime, report: Report) -> list[_Pending]:
        """Everything that changed after ``after``, read in full before anything is written;
        BillingUnavailable when the provider cannot be read."""

    async def run(self, since: datetime | None = None, *, dry_run: bool = False) -> Report:
        """Apply every change made since ``since`` (else since the last run, less OVERLAP);
        raises BillingUnavailable, having changed nothing, when the provider cannot be read."""
        started = self._now()
        default = await self._from(started)
        after = since or default
        report = Report(self.source, after, dry_run)
        changes = await self._read(after, started, report)
        async with self._engine.connect() as connection:
            if dry_run:
                async with connection.begin() as transaction:
                    for change in changes:
                        await self._apply(connection, change, report)
                    await transaction.rollback()
                return report
            for change in changes:
                async with connection.begin():
                    await self._apply(connection, change, report)
            if after <= default:
                # Only a run that read at least what a default run would moves the cursor: a
                # later --since must not skip what lies between the last run and it.
                async with connection.begin():
                    await _advance(connection, self.source, started - OVERLAP)
        return report

    async def _from(self, started: datetime) -> datetime:
        async with self._engine.connect() as connection:
            through = await _cursor(connection, self.source)
        return through if through is not None else started - FIRST_RUN

    async def _apply(self, connection: AsyncConnection, change: _Pending, report: Report) -> None:
        try:
            # A savepoint: what the change wrote before it was found unreadable (its dedup row)
            # goes with it, as a refused delivery's transaction would.
            async with connection.begin_nested():
                outcome = await change.apply(connection)
        except _UNREADABLE:
            report.unreadable += 1
            _log.warning("billing_reconcile_unreadable", source=self.source, kind=change.kind)
            return
        if outcome not in REPAIRED:
            return  # delivered already, no different from what is stored, or no one's
        report.repairs.append(Repair(change.kind, outcome))
        if report.dry_run:
            _log.info("billing_repair_would_apply", source=self.source, kind=change.kind)
        else:
            # Never the user, the customer or the object: the kind of drift only.
            _log.warning("billing_repair", source=self.source, kind=change.kind, outcome=outcome)
            metrics.BILLING_REPAIRS.labels(self.source, change.kind).inc()


class StripeReconciliation(_Reconciliation):
    """Every handled event Stripe created since the last run (its List Events API), each as its
    delivery would have been applied; a checkout's subscription read before anything is written."""

    source = stripe_events.SOURCE

    def __init__(
        self, engine: AsyncEngine, webhooks: StripeWebhooks, billing: StripeBilling, now: Clock
    ) -> None:
        super().__init__(engine, now)
        self._webhooks = webhooks
        self._billing = billing

    @property
    def configured(self) -> bool:
        return self._billing.configured

    async def close(self) -> None:
        """The Stripe client is the app's (StripeBilling), closed with it."""

    async def _read(self, after: datetime, until: datetime, report: Report) -> list[_Pending]:
        listed = await self._billing.events_since(int(after.timestamp()), stripe_events.HANDLED)
        report.seen = len(listed)
        changes = []
        for raw in listed:
            try:
                event = stripe_events.decode_event(msgspec.json.encode(raw))
            except _UNREADABLE:
                report.unreadable += 1
                _log.warning("billing_reconcile_unreadable", source=self.source)
                continue
            fetched = await self._webhooks.prefetch(event)
            changes.append(_Pending(event.type, self._applier(event, fetched)))
        return changes

    def _applier(self, event: Event, fetched: StripeSubscriptionObject | None) -> Applier:
        async def apply(connection: AsyncConnection) -> str:
            return await self._webhooks.apply(connection, event, fetched, self._now())

        return apply


class AppleReconciliation(_Reconciliation):
    """Every notification Apple sent since the last run (Get Notification History), each as its
    delivery would have been applied; then the status of every subscription known here (Get All
    Subscription Statuses) where a renewal or expiry can be due, applied where it says what the
    stored state does not — a renewal Apple never notified. Everything is read and verified
    before anything is written."""

    source = apple.SOURCE

    def __init__(
        self,
        engine: AsyncEngine,
        webhooks: AppleWebhooks,
        verifier: AppleVerifier,
        api: AppleApi,
        now: Clock,
    ) -> None:
        super().__init__(engine, now)
        self._webhooks = webhooks
        self._verifier = verifier
        self._api = api

    @property
    def configured(self) -> bool:
        return self._api.configured

    async def close(self) -> None:
        await self._api.close()

    async def _read(self, after: datetime, until: datetime, report: Report) -> list[_Pending]:
        changes = []
        for payload in await self._api.notifications(after, until):
            report.seen += 1
            try:
                notification = await self._verifier.verify(payload)
            except UnverifiableNotification:
                report.unreadable += 1
                _log.warning("billing_reconcile_unreadable", source=self.source)
                continue
            changes.append(_Pending(notification.type, self._notification(notification)))
        # Apple answers one subscription a call: only those where a renewal or an expiry can be
        # due are asked about, so a run costs calls in proportion to what can change.
        async with self._engine.connect() as connection:
            due = await store.apple_subscriptions_due(
                connection, until + STATUS_AHEAD, until - STATUS_BEHIND
            )
        for original_transaction_id in due:
            for status in await self._api.statuses(original_transaction_id):
                report.seen += 1
                try:
                    notification = await self._verifier.verify_status(
                        status.status, status.signed_transaction, status.signed_renewal
                    )
                except UnverifiableNotification:
                    report.unreadable += 1
                    _log.warning("billing_reconcile_unreadable", source=self.source)
                    continue
                kind = f"status_{apple.STATUS_NAMES[status.status]}"
                changes.append(_Pending(kind, self._status(notification)))
        return changes

    def _notification(self, notification: Notification) -> Applier:
        async def apply(connection: AsyncConnection) -> str:
            return await self._webhooks.apply(connection, notification)

        return apply

    def _status(self, notification: Notification) -> Applier:
        async def apply(connection: AsyncConnection) -> str:
            return await self._webhooks.apply_status(connection, notification)

        return apply


async def _cursor(connection: AsyncConnection, source: str) -> datetime | None:
    found = await connection.execute(
        select(BillingReconciliation.reconciled_through).where(
            BillingReconciliation.source == source
        )
    )
    return found.scalar_one_or_none()


async def _advance(connection: AsyncConnection, source: str, through: datetime) -> None:
    statement = insert(BillingReconciliation).values(source=source, reconciled_through=through)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[BillingReconciliation.source],
            set_={
                "reconciled_through": statement.excluded.reconciled_through,
                "finished_at": func.now(),
            },
        )
    )


class Reconciler:
    """Every configured provider, one after the other; a provider not configured is skipped."""

    def __init__(self, sources: list[_Reconciliation], now: Clock) -> None:
        self._sources = sources
        self._now = now

    async def close(self) -> None:
        for source in self._sources:
            await source.close()

    async def run(self, since: datetime | None = None, *, dry_run: bool = False) -> list[Report]:
        reports = []
        for source in self._sources:
            if not source.configured:
                continue
            try:
                report = await source.run(since, dry_run=dry_run)
            except Exception:
                metrics.BILLING_RECONCILE_RUNS.labels(source.source, "failed").inc()
                raise
            metrics.BILLING_RECONCILE_RUNS.labels(source.source, "ok").inc()
            if not dry_run:
                metrics.BILLING_RECONCILED.labels(source.source).set(self._now().timestamp())
            _log.info(
                "billing_reconciled",
                source=source.source,
                dry_run=dry_run,
                seen=report.seen,
                repairs=len(report.repairs),
                unreadable=report.unreadable,
            )
            reports.append(report)
        return reports


def reconciliation_report(reports: list[Report]) -> Reconciliation:
    """The answer of the admin route and of `phoenix billing reconcile`."""
    return Reconciliation(
        sources=[
            Reconciled(
                source=report.source,
                since=report.since,
                dry_run=report.dry_run,
                seen=report.seen,
                unreadable=report.unreadable,
                repairs=report.by_kind(),
            )
            for report in reports
        ]
    )
