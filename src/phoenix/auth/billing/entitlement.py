"""Whether a user may get tokens: one pure rule over every subscription they hold.

Stripe and Apple describe subscriptions in their own words; each source's module turns its
latest state into a :class:`Subscription` — a *state* and the dates it is paid or forgiven until.
From there one function decides, the same for both sources:

- ``active``: covered until ``paid_until``;
- ``grace``: a renewal payment failed and the store is still retrying; covered until
  ``grace_until`` (the user is *in grace* once ``paid_until`` has passed);
- ``ended``, ``refunded``, ``revoked``: not covered at all, whatever the dates say.

A user with several subscriptions (a Stripe one and an Apple one, or a development grant) is
covered by whichever reaches furthest. The issuance statement checks a materialised copy of
:func:`covered_until` per source (the ``entitlements`` table, written with every state change),
so the gate and :func:`entitlement` agree by construction — a property test holds them to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Source(StrEnum):
    GRANT = "grant"  # development and support
    STRIPE = "stripe"
    APPLE = "apple"


class State(StrEnum):
    ACTIVE = "active"
    GRACE = "grace"
    ENDED = "ended"
    REFUNDED = "refunded"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Subscription:
    source: Source
    state: State
    paid_until: datetime | None = None
    grace_until: datetime | None = None


@dataclass(frozen=True)
class Entitlement:
    active: bool
    source: Source | None = None
    expires_at: datetime | None = None
    in_grace: bool = False


NONE = Entitlement(active=False)


def covered_until(subscription: Subscription) -> datetime | None:
    """The instant this one subscription stops covering its user (None: it never does)."""
    if subscription.state is State.ACTIVE:
        return subscription.paid_until
    if subscription.state is State.GRACE:
        ends = [d for d in (subscription.paid_until, subscription.grace_until) if d is not None]
        return max(ends, default=None)
    return None


def entitlement(subscriptions: Iterable[Subscription], now: datetime) -> Entitlement:
    """The user's entitlement at ``now``: the subscription that covers them furthest wins."""
    best: tuple[datetime, Subscription] | None = None
    for subscription in subscriptions:
        until = covered_until(subscription)
        if until is None or until <= now:
            continue
        if best is None or until > best[0]:
            best = (until, subscription)
    if best is None:
        return NONE
    until, winner = best
    in_grace = winner.state is State.GRACE and (
        winner.paid_until is None or winner.paid_until <= now
    )
    return Entitlement(active=True, source=winner.source, expires_at=until, in_grace=in_grace)


def covered_until_by_source(
    subscriptions: Iterable[Subscription],
) -> dict[Source, datetime | None]:
    """Per source, the furthest instant any of its subscriptions covers (the gate's copy)."""
    reach: dict[Source, datetime | None] = {}
    for subscription in subscriptions:
        until = covered_until(subscription)
        known = reach.get(subscription.source)
        if until is not None and (known is None or until > known):
            reach[subscription.source] = until
        else:
            reach.setdefault(subscription.source, known)
    return reach
