"""A lease ends on the hour: never sooner than asked, at most an hour later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from phoenix.config.leases import ends_on_the_hour


@pytest.mark.parametrize(
    ("asked", "ends"),
    [
        (datetime(2026, 3, 10, 14, 0, 0, 1, tzinfo=UTC), datetime(2026, 3, 10, 15, tzinfo=UTC)),
        (datetime(2026, 3, 10, 14, 59, 59, tzinfo=UTC), datetime(2026, 3, 10, 15, tzinfo=UTC)),
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), datetime(2027, 1, 1, 0, tzinfo=UTC)),
        # Already on the hour: kept, not pushed an hour on.
        (datetime(2026, 3, 10, 14, tzinfo=UTC), datetime(2026, 3, 10, 14, tzinfo=UTC)),
    ],
)
def test_an_expiry_is_rounded_up_to_the_next_whole_hour(asked: datetime, ends: datetime) -> None:
    assert ends_on_the_hour(asked) == ends


def test_the_hour_is_a_utc_hour_whatever_the_zone_it_was_given_in() -> None:
    # 14:10 at +05:30 is 08:40 UTC: the lease ends at 09:00 UTC, not at 15:00 local.
    india = timezone(timedelta(hours=5, minutes=30))
    ends = ends_on_the_hour(datetime(2026, 3, 10, 14, 10, tzinfo=india))
    assert ends == datetime(2026, 3, 10, 9, tzinfo=UTC)
    assert ends.tzinfo is UTC


def test_a_naive_expiry_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ends_on_the_hour(datetime(2026, 3, 10, 14, 10))
