"""The schedule's billing reconciliation: the worker only calls the auth role's admin endpoint.

The auth role does the work (phoenix.auth.billing.reconcile): it alone holds the payment
providers' credentials and UserDB. A provider it cannot read answers 503 having changed nothing;
that raises here, and Dramatiq retries the job with backoff. A run repairs nothing twice.
"""

from __future__ import annotations

from typing import Final

import httpx

from phoenix.common.logging import get_logger

_log = get_logger("phoenix.worker.reconcile")

PATH: Final = "/v1/admin/billing/reconcile"
# A first run reads 30 days of Stripe events (a page a round trip): more than a fetch's timeout.
TIMEOUT_SECONDS: Final = 600.0


class BillingReconcile:
    def __init__(self, http: httpx.Client, auth_url: str, token: str) -> None:
        self._http = http
        self._url = auth_url.rstrip("/") + PATH
        self._token = token

    def run(self) -> object:
        response = self._http.post(
            self._url,
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=TIMEOUT_SECONDS,
        )
        response.raise_for_status()
        result: object = response.json()
        # Counts by provider and kind only: the answer names no user.
        _log.info("billing_reconcile_done", result=result)
        return result
