"""The entitlement rule: one pure function over every subscription a user holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix.auth.billing.entitlement import (
    Entitlement,
    Source,
    State,
    Subscription,
    covered_until_by_source,
    entitlement,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
DAY = timedelta(days=1)
STRIPE, APPLE, GRANT = Source.STRIPE, Source.APPLE, Source.GRANT


def sub(
    source: Source,
    state: State,
    paid: timedelta | None,
    grace: timedelta | None = None,
) -> Subscription:
    return Subscription(
        source,
        state,
        None if paid is None else NOW + paid,
        None if grace is None else NOW + grace,
    )


CASES = [
    ("nothing held", [], Entitlement(False)),
    (
        "a paid Stripe period",
        [sub(STRIPE, State.ACTIVE, 10 * DAY)],
        Entitlement(True, STRIPE, NOW + 10 * DAY, False),
    ),
    ("a lapsed period", [sub(STRIPE, State.ACTIVE, -DAY)], Entitlement(False)),
    ("the period ends exactly now", [sub(APPLE, State.ACTIVE, timedelta(0))], Entitlement(False)),
    (
        "grace after a failed renewal",
        [sub(APPLE, State.GRACE, -DAY, 5 * DAY)],
        Entitlement(True, APPLE, NOW + 5 * DAY, True),
    ),
    ("grace that has run out", [sub(STRIPE, State.GRACE, -10 * DAY, -DAY)], Entitlement(False)),
    (
        "grace announced while still paid is not yet grace",
        [sub(APPLE, State.GRACE, DAY, 6 * DAY)],
        Entitlement(True, APPLE, NOW + 6 * DAY, False),
    ),
    ("refunded despite a future date", [sub(APPLE, State.REFUNDED, 20 * DAY)], Entitlement(False)),
    ("revoked despite a future date", [sub(APPLE, State.REVOKED, 20 * DAY)], Entitlement(False)),
    ("ended despite a future date", [sub(STRIPE, State.ENDED, 20 * DAY)], Entitlement(False)),
    (
        "overlap: the source reaching furthest wins",
        [sub(STRIPE, State.ACTIVE, 3 * DAY), sub(APPLE, State.ACTIVE, 30 * DAY)],
        Entitlement(True, APPLE, NOW + 30 * DAY, False),
    ),
    (
        "overlap: a refund on one source leaves the other",
        [sub(APPLE, State.REFUNDED, 30 * DAY), sub(STRIPE, State.ACTIVE, 3 * DAY)],
        Entitlement(True, STRIPE, NOW + 3 * DAY, False),
    ),
    (
        "overlap: paid beats grace when it reaches further",
        [sub(APPLE, State.GRACE, -DAY, 2 * DAY), sub(STRIPE, State.ACTIVE, 9 * DAY)],
        Entitlement(True, STRIPE, NOW + 9 * DAY, False),
    ),
    (
        "overlap: grace beats a shorter paid period",
        [sub(APPLE, State.GRACE, -DAY, 9 * DAY), sub(STRIPE, State.ACTIVE, 2 * DAY)],
        Entitlement(True, APPLE, NOW + 9 * DAY, True),
    ),
    (
        "a development grant counts like a paid period",
        [sub(GRANT, State.ACTIVE, 7 * DAY), sub(STRIPE, State.REVOKED, 30 * DAY)],
        Entitlement(True, GRANT, NOW + 7 * DAY, False),
    ),
    (
        "an active state without a date covers nothing",
        [sub(STRIPE, State.ACTIVE, None)],
        Entitlement(False),
    ),
]


@pytest.mark.parametrize(("held", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_entitlement_table(held: list[Subscription], expected: Entitlement) -> None:
    assert entitlement(held, NOW) == expected


offsets = st.one_of(st.none(), st.integers(-40, 40).map(lambda days: NOW + days * DAY))
subscriptions = st.builds(
    Subscription, st.sampled_from(list(Source)), st.sampled_from(list(State)), offsets, offsets
)


@given(st.lists(subscriptions, max_size=5), st.integers(-45, 45))
def test_the_gates_copy_agrees_with_the_rule_at_every_instant(
    held: list[Subscription], shift_days: int
) -> None:
    """The issuance gate checks `expires_at > now` on one row per source; that must be exactly
    the rule's answer, whatever the states and whenever the request comes."""
    now = NOW + shift_days * DAY
    reach = covered_until_by_source(held)
    gate_open = any(until is not None and until > now for until in reach.values())
    assert gate_open == entitlement(held, now).active
