"""The config role's own series (docs/metrics.md): redemptions by outcome and waiting long-polls.

Aggregates only: an outcome, never a token, a key or a node. The fleet's census (nodes, leases)
is phoenix.config.census; the directory's freshness is counted by phoenix.config.directory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final

from prometheus_client import Counter, Gauge

from phoenix.common import database
from phoenix.common.problems import Problem
from phoenix.config import redis_errors
from phoenix.config.redemption import NoCapacity
from phoenix.config.spent import TokenSpent
from phoenix.config.tokens import TokenRejected

OUTCOMES: Final = ("ok", "spent", "invalid", "no_capacity", "unavailable", "bad_request", "error")

REDEMPTIONS = Counter(
    "phoenix_config_redemptions",
    "Connects (token redemptions), by outcome",
    ["outcome"],
)
LONG_POLLS_WAITING = Gauge(
    "phoenix_config_long_polls_waiting",
    "Peer long-polls waiting right now",
    multiprocess_mode="livesum",
)

# Children bound once: labels() validates and takes a lock on every call, and this is the hot
# path. Every outcome exists from the start, at 0, so a ratio has a denominator at once.
_BY_OUTCOME: Final = {outcome: REDEMPTIONS.labels(outcome) for outcome in OUTCOMES}
_CALLER_MISTAKES: Final[Mapping[type[Problem], str]] = {
    TokenSpent: "spent",
    TokenRejected: "invalid",
    NoCapacity: "no_capacity",
}
# What the app's exception handlers answer 503 for: a store away is "unavailable", not a bug.
_STORES_AWAY: Final = tuple(
    kind
    for kind in (*database.exception_handlers(), *redis_errors.exception_handlers())
    if isinstance(kind, type)
)


def outcome_of(error: BaseException) -> str:
    """What a failed connect counts as."""
    for kind, outcome in _CALLER_MISTAKES.items():
        if isinstance(error, kind):
            return outcome
    if isinstance(error, Problem):
        return "unavailable" if error.status == 503 else "bad_request"
    if isinstance(error, _STORES_AWAY):
        return "unavailable"
    return "error"


@contextmanager
def counting_redemption() -> Iterator[None]:
    """Counts the connect in the block under its outcome; the error goes on as it was."""
    try:
        yield
    except Exception as error:
        _BY_OUTCOME[outcome_of(error)].inc()
        raise
    _BY_OUTCOME["ok"].inc()
