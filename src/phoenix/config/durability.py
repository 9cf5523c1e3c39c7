"""Is this Redis fit to hold spent marks? It must never evict them and must not lose them.

A spent mark that disappears lets its token buy a second config. Redis drops keys in two
ordinary ways: eviction under memory pressure (any `maxmemory-policy` but `noeviction`; managed
services often default to `volatile-lru`, which evicts exactly keys with a TTL, as marks are)
and a restart without persistence. So in production config's readiness fails, naming redis,
unless the server says `noeviction` and has AOF or RDB snapshots on. Redis's own guidance for
data that must not be lost is the same: noeviction, and persistence (or replicas, which
phoenix.config.spent waits for).

Read through `INFO`, which managed services allow; `CONFIG GET save` (RDB snapshots) is tried
only when AOF is off, and a server that refuses CONFIG then counts as not persistent.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import ResponseError


class NotDurable(Exception):
    """The Redis server could lose spent marks; the message says how (safe to log)."""


async def check_durable(redis: Redis) -> None:
    """Raise NotDurable unless `redis` never evicts and persists; Redis errors propagate."""
    memory = await redis.info("memory")
    policy = memory.get("maxmemory_policy")
    if policy != "noeviction":
        raise NotDurable(f"maxmemory-policy is {policy}, not noeviction: marks could be evicted")
    persistence = await redis.info("persistence")
    if int(persistence.get("aof_enabled", 0)) == 1:
        return
    try:
        save = (await redis.config_get("save")).get("save", "")
    except ResponseError:
        raise NotDurable("AOF is off and CONFIG is refused: cannot tell if RDB is on") from None
    if not str(save).strip():
        raise NotDurable("neither AOF nor RDB snapshots are on: a restart would lose marks")
