"""The auth role's own series (docs/metrics.md): tokens issued, requests refused and why, and
the signing key's dates.

Aggregates only: a count and a reason, never a uid, an email or a token. The key's dates are
exported as timestamps; its age is ``time() -`` the not-before in a rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from litestar.exceptions import HTTPException
from prometheus_client import Counter, Gauge

from phoenix.auth.firebase import IdentityUnavailable, Unauthenticated
from phoenix.auth.issuer import Issuer, NoSigningKey, NotEntitled, QuotaExhausted
from phoenix.common import database
from phoenix.common.problems import Problem

REASONS: Final = (
    "unauthenticated",
    "not_entitled",
    "quota_exhausted",
    "invalid_request",
    "no_signing_key",
    "unavailable",
    "error",
)

ISSUED = Counter("phoenix_auth_tokens_issued", "Tokens blind-signed")
REFUSED = Counter("phoenix_auth_issuance_refused", "Token requests refused, by reason", ["reason"])
KEY_NOT_BEFORE = Gauge(
    "phoenix_auth_signing_key_not_before_timestamp_seconds",
    "Not-before of the key the issuer signs with now (0 while none may sign)",
    multiprocess_mode="max",
)
KEY_MAX_AGE = Gauge(
    "phoenix_auth_signing_key_max_age_seconds",
    "PHOENIX_ISSUER_KEY_MAX_AGE: a key signs until its not-before plus this",
    multiprocess_mode="max",
)

# Billing reconciliation: by provider and kind of drift (an event or notification type), never
# by user.
BILLING_REPAIRS = Counter(
    "phoenix_auth_billing_repairs",
    "Changes a lost webhook had left out, applied by reconciliation",
    ["source", "kind"],
)
BILLING_RECONCILE_RUNS = Counter(
    "phoenix_auth_billing_reconcile_runs",
    "Reconciliation runs, by provider and outcome (ok, failed)",
    ["source", "outcome"],
)
BILLING_RECONCILED = Gauge(
    "phoenix_auth_billing_reconciled_timestamp_seconds",
    "Unix time of the last reconciliation run that completed, by provider",
    ["source"],
    multiprocess_mode="max",
)

_BY_REASON: Final = {reason: REFUSED.labels(reason) for reason in REASONS}
_REFUSALS: Final[dict[type[Exception], str]] = {
    Unauthenticated: "unauthenticated",
    NotEntitled: "not_entitled",
    QuotaExhausted: "quota_exhausted",
    NoSigningKey: "no_signing_key",
    IdentityUnavailable: "unavailable",
}
_STORES_AWAY: Final = tuple(k for k in database.exception_handlers() if isinstance(k, type))


def reason_of(error: BaseException) -> str:
    """Why a token request was refused, as a label."""
    for kind, reason in _REFUSALS.items():
        if isinstance(error, kind):
            return reason
    if isinstance(error, Problem):
        return "unavailable" if error.status == 503 else "invalid_request"
    if isinstance(error, _STORES_AWAY):
        return "unavailable"
    if isinstance(error, HTTPException) and error.status_code < 500:
        return "invalid_request"  # Litestar's own: a body over the limit (413)
    return "error"


@contextmanager
def counting_issuance() -> Iterator[list[int]]:
    """Counts the request in the block: append how many tokens were signed, or it raises."""
    signed: list[int] = []
    try:
        yield signed
    except Exception as error:
        _BY_REASON[reason_of(error)].inc()
        raise
    ISSUED.inc(sum(signed))


def observe_signing_key(issuer: Issuer) -> None:
    """Sets the key gauges from what signs now."""
    KEY_MAX_AGE.set(issuer.policy.life.max_age.total_seconds())
    key = issuer.signing_key()
    KEY_NOT_BEFORE.set(key.not_before.timestamp() if key is not None else 0)
