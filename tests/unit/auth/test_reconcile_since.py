"""`since` of a reconciliation: an RFC 3339 date-time with its offset, or a clear refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from phoenix.auth.billing.reconcile import parse_since


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-12-01T00:00:00Z", datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12-01t01:30:00+01:30", datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-11-30T19:00:00.5-05:00", datetime(2026, 12, 1, 0, 0, 0, 500000, tzinfo=UTC)),
        # RFC 3339 allows a leap second and any number of fraction digits.
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("2026-12-01T00:00:00.123456789Z", datetime(2026, 12, 1, 0, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_an_rfc_3339_time_is_read_in_utc(text: str, moment: datetime) -> None:
    assert parse_since(text) == moment


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2026-12-01T00:00:00", "give a time zone"),
        ("0.5", "is not an RFC 3339 date-time"),
        ("yesterday", "is not an RFC 3339 date-time"),
        ("2026-12-01", "is not an RFC 3339 date-time"),
        ("2026-13-01T00:00:00Z", "no date-time a calendar holds"),
        ("0001-01-01T00:00:00+01:00", "no date-time a calendar holds"),
        ("\uff12\uff10\uff12\uff16-12-01T00:00:00Z", "is not an RFC 3339"),  # fullwidth digits
    ],
)
def test_anything_else_is_refused_saying_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_since(text)
