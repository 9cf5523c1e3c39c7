"""The revocation cache: one Firebase user lookup per uid per cache period, a per-uid budget of
lookups a minute, and an answer never used more than 60 s after it was fetched.

The lookup here is a plain function that counts its calls and a clock the test moves; the same
cache against the real Auth emulator is in tests/integration/auth/test_firebase_cost.py.
"""

from __future__ import annotations

import asyncio

import pytest

from phoenix.auth.revocation import (
    MISSING,
    LookupsExhausted,
    RevocationCache,
    Standing,
)

GOOD = Standing(exists=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Firebase:
    """Answers lookups from ``users``; ``down`` makes them fail; ``calls`` counts them."""

    def __init__(self) -> None:
        self.users: dict[str, Standing] = {}
        self.calls: list[str] = []
        self.down = False
        self.gate: asyncio.Event | None = None

    async def lookup(self, uid: str) -> Standing:
        self.calls.append(uid)
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise ConnectionError("Firebase is down")
        return self.users.get(uid, MISSING)


def cache(
    firebase: Firebase, clock: Clock, fresh_for: float = 60, limit: int = 6, entries: int = 100
) -> RevocationCache:
    return RevocationCache(
        firebase.lookup,
        fresh_for=fresh_for,
        lookups_per_minute=limit,
        clock=clock,
        max_entries=entries,
    )


async def test_an_answer_is_reused_for_the_cache_period_then_fetched_again() -> None:
    firebase, clock = Firebase(), Clock()
    firebase.users["alice"] = GOOD
    checks = cache(firebase, clock, fresh_for=60)

    for _ in range(50):
        assert await checks.standing("alice") == GOOD
        clock.now += 1.1  # 50 checks over 55 s
    assert firebase.calls == ["alice"]

    firebase.users["alice"] = Standing(exists=True, disabled=True)
    clock.now = 1000.0 + 59.9
    assert await checks.standing("alice") == GOOD  # still inside the window
    clock.now = 1000.0 + 60
    assert (await checks.standing("alice")).disabled
    assert firebase.calls == ["alice", "alice"]


async def test_concurrent_checks_of_one_uid_share_one_lookup() -> None:
    firebase, clock = Firebase(), Clock()
    firebase.users["alice"] = GOOD
    firebase.gate = asyncio.Event()
    checks = cache(firebase, clock)

    waiting = [asyncio.ensure_future(checks.standing("alice")) for _ in range(20)]
    await asyncio.sleep(0)
    firebase.gate.set()

    assert await asyncio.gather(*waiting) == [GOOD] * 20
    assert firebase.calls == ["alice"]


async def test_a_caller_that_goes_away_does_not_cancel_the_lookup_for_the_others() -> None:
    firebase, clock = Firebase(), Clock()
    firebase.users["alice"] = GOOD
    firebase.gate = asyncio.Event()
    checks = cache(firebase, clock)

    first = asyncio.ensure_future(checks.standing("alice"))
    second = asyncio.ensure_future(checks.standing("alice"))
    await asyncio.sleep(0)
    first.cancel()
    firebase.gate.set()

    assert await second == GOOD
    assert await checks.standing("alice") == GOOD
    assert firebase.calls == ["alice"]


async def test_failed_lookups_spend_the_budget_then_retry_after_says_when_one_is_free() -> None:
    firebase, clock = Firebase(), Clock()
    firebase.down = True
    checks = cache(firebase, clock, limit=3)

    for _ in range(3):
        with pytest.raises(ConnectionError):
            await checks.standing("alice")
        clock.now += 10
    with pytest.raises(LookupsExhausted) as spent:
        await checks.standing("alice")

    assert len(firebase.calls) == 3  # the fourth check did not reach Firebase
    assert spent.value.retry_after == 30  # the first lookup (at 0 s) leaves the window at 60 s
    clock.now += 30
    firebase.down = False
    firebase.users["alice"] = GOOD
    assert await checks.standing("alice") == GOOD


async def test_a_spent_budget_reuses_an_answer_younger_than_a_minute_never_an_older_one() -> None:
    firebase, clock = Firebase(), Clock()
    firebase.users["alice"] = GOOD
    checks = cache(firebase, clock, fresh_for=5, limit=2)
    start = clock.now

    assert await checks.standing("alice") == GOOD  # lookup 1 at 0 s
    clock.now = start + 30
    firebase.users["alice"] = Standing(exists=True, disabled=True)
    assert (await checks.standing("alice")).disabled  # lookup 2 at 30 s: budget spent
    firebase.users["alice"] = GOOD
    clock.now = start + 59
    assert (await checks.standing("alice")).disabled  # the 29 s old answer, no lookup
    assert len(firebase.calls) == 2

    # While Firebase fails, the last answer ages; past 60 s it is never used.
    firebase.down = True
    clock.now = start + 60  # lookup 1 left the window: lookup 3, which fails
    with pytest.raises(ConnectionError):
        await checks.standing("alice")
    clock.now = start + 89  # budget spent (30 s, 60 s); the answer from 30 s is 59 s old
    assert (await checks.standing("alice")).disabled
    clock.now = start + 90  # lookup 2 left the window: lookup 4, which fails
    with pytest.raises(ConnectionError):
        await checks.standing("alice")
    clock.now = start + 91  # budget spent (60 s, 90 s) and the answer is 61 s old: not trusted
    with pytest.raises(LookupsExhausted) as spent:
        await checks.standing("alice")
    assert spent.value.retry_after == 29  # lookup 3 (60 s) leaves the window at 120 s
    assert len(firebase.calls) == 4


async def test_the_cache_keeps_at_most_max_entries_uids_dropping_the_least_recently_used() -> None:
    firebase, clock = Firebase(), Clock()
    for uid in ("a", "b", "c"):
        firebase.users[uid] = GOOD
    checks = cache(firebase, clock, entries=2)

    await checks.standing("a")
    await checks.standing("b")
    await checks.standing("a")  # a is now the most recently used
    await checks.standing("c")  # b goes

    assert len(checks) == 2
    await checks.standing("a")
    await checks.standing("b")
    assert firebase.calls == ["a", "b", "c", "b"]


@pytest.mark.parametrize(
    ("standing", "issued_at", "refusal"),
    [
        (Standing(exists=True), 1_700_000_000, None),
        (Standing(exists=True, valid_after_ms=1_700_000_000_000), 1_700_000_000, None),
        (
            Standing(exists=True, valid_after_ms=1_700_000_001_000),
            1_700_000_000,
            "the ID token was revoked",
        ),
        (Standing(exists=True, disabled=True), 1_700_000_000, "the account is disabled"),
        (MISSING, 1_700_000_000, "the account does not exist"),
    ],
    ids=["fresh", "issued-at-revocation", "issued-before-revocation", "disabled", "deleted"],
)
def test_a_token_is_refused_if_issued_strictly_before_the_revocation(
    standing: Standing, issued_at: int, refusal: str | None
) -> None:
    assert standing.refusal(issued_at) == refusal


@pytest.mark.parametrize(
    ("fresh_for", "limit"), [(0, 6), (61, 6), (60, 0)], ids=["zero", "over-60", "no-lookups"]
)
def test_a_cache_longer_than_the_revocation_window_cannot_be_built(
    fresh_for: float, limit: int
) -> None:
    with pytest.raises(ValueError, match="must be"):
        cache(Firebase(), Clock(), fresh_for=fresh_for, limit=limit)


async def test_an_account_this_process_deleted_is_refused_at_once() -> None:
    firebase, clock = Firebase(), Clock()
    firebase.users["alice"] = GOOD
    checks = cache(firebase, clock)
    assert await checks.standing("alice") == GOOD

    checks.remember("alice", MISSING)

    assert await checks.standing("alice") == MISSING
    assert firebase.calls == ["alice"]
