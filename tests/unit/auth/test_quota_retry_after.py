"""Retry-After tells a refused client when enough old tokens leave the 24-hour window."""

from __future__ import annotations

from phoenix.auth.quota import BUCKETS, QuotaDecision, retry_after

HOUR = 3600


def counts(**by_hours_ago: int) -> list[int]:
    buckets = [0] * BUCKETS
    for key, value in by_hours_ago.items():
        buckets[int(key.removeprefix("h"))] = value
    return buckets


def test_tokens_from_23_hours_ago_free_up_at_the_next_hour() -> None:
    # 10 minutes into the hour; the oldest bucket leaves in 50 minutes.
    assert retry_after(counts(h23=5), tokens=1, limit=5, now=10 * 60) == 50 * 60


def test_the_wait_reaches_back_to_the_bucket_that_makes_room() -> None:
    # Full with 3 now and 2 from 5 hours ago: the 5-hours-ago bucket leaves after 18 more hours.
    wait = retry_after(counts(h0=3, h5=2), tokens=2, limit=5, now=0)
    assert wait == HOUR + 18 * HOUR


def test_a_request_larger_than_the_quota_waits_the_whole_window() -> None:
    assert retry_after(counts(h0=5), tokens=6, limit=5, now=0) == BUCKETS * HOUR


def test_remaining_never_goes_negative() -> None:
    assert QuotaDecision(False, used=7, limit=5).remaining == 0
