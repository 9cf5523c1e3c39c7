"""Calls to the App Store Server API, for reconciliation: the statuses of a subscription and the
history of the notifications Apple sent. Apple's own ``app-store-server-library`` (async, over
httpx) signs each request with the in-app purchase key (an ES256 JWT). What comes back is signed
data that AppleVerifier checks exactly as it checks a notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import httpx
from appstoreserverlibrary.api_client import APIException, AsyncAppStoreServerAPIClient
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.models.NotificationHistoryRequest import NotificationHistoryRequest

from phoenix.auth.billing.stripe_api import BillingUnavailable
from phoenix.auth.settings import AuthSettings
from phoenix.common.logging import get_logger

_log = get_logger("phoenix.auth.billing")

# Apple keeps notification history this long.
HISTORY_DAYS: Final = 180
NOT_FOUND: Final = 404


@dataclass(frozen=True)
class SubscriptionStatus:
    """One subscription's status as Apple reports it, with its signed transaction and renewal."""

    status: int  # 1 active, 2 expired, 3 billing retry, 4 grace period, 5 revoked
    signed_transaction: str
    signed_renewal: str | None


class AppleApi:
    def __init__(self, settings: AuthSettings) -> None:
        self._client: AsyncAppStoreServerAPIClient | None = None
        if settings.apple_api_key and settings.apple_api_key_id and settings.apple_api_issuer_id:
            self._client = AsyncAppStoreServerAPIClient(
                settings.apple_api_key.encode(),
                settings.apple_api_key_id,
                settings.apple_api_issuer_id,
                settings.apple_bundle_id,
                Environment(settings.apple_environment),
            )
            if settings.apple_api_base:
                # The library takes no base address: set where its constructor puts Apple's.
                self._client._base_url = settings.apple_api_base.rstrip("/")

    @property
    def configured(self) -> bool:
        return self._client is not None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.async_close()  # type: ignore[no-untyped-call]

    async def statuses(self, original_transaction_id: str) -> list[SubscriptionStatus]:
        """The latest status of every subscription in the group of this purchase."""
        client = self._require()
        try:
            answer = await client.get_all_subscription_statuses(original_transaction_id)
        except APIException as error:
            if error.http_status_code == NOT_FOUND:
                # Apple does not know it (another environment's purchase): nothing to repair,
                # and no reason to fail every other subscription's check.
                _log.info("apple_status_not_found")
                return []
            raise _unavailable("statuses", error) from None
        except httpx.HTTPError as error:
            raise _unavailable("statuses", error) from None
        found = []
        for group in answer.data or []:
            for last in group.lastTransactions or []:
                if last.rawStatus is None or not last.signedTransactionInfo:
                    continue
                found.append(
                    SubscriptionStatus(
                        last.rawStatus, last.signedTransactionInfo, last.signedRenewalInfo
                    )
                )
        return found

    async def notifications(self, start: datetime, end: datetime) -> list[str]:
        """The signed payloads of every notification Apple sent (or tried to) between ``start``
        and ``end``, all pages read before any is returned."""
        client = self._require()
        request = NotificationHistoryRequest(
            startDate=int(start.timestamp() * 1000), endDate=int(end.timestamp() * 1000)
        )
        payloads: list[str] = []
        token: str | None = None
        try:
            while True:
                page = await client.get_notification_history(token, request)
                payloads += [
                    item.signedPayload
                    for item in page.notificationHistory or []
                    if item.signedPayload
                ]
                token = page.paginationToken
                if not page.hasMore or not token:
                    return payloads
        except (APIException, httpx.HTTPError) as error:
            raise _unavailable("notification history", error) from None

    def _require(self) -> AsyncAppStoreServerAPIClient:
        if self._client is None:
            raise BillingUnavailable("the App Store Server API is not configured")
        return self._client


def _unavailable(call: str, error: Exception) -> BillingUnavailable:
    # The library's messages may quote the request: log the class and Apple's error code only.
    code = error.raw_api_error if isinstance(error, APIException) else None
    _log.warning("apple_api_call_failed", call=call, error=type(error).__name__, code=code)
    return BillingUnavailable(f"the App Store Server API could not answer ({call})")
