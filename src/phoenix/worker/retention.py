"""Retention: each role deletes its own expired data; the worker only calls its admin endpoint.

One target per role, each its own message, so one role being down delays only its own sweep.
Every endpoint is idempotent: calling it twice deletes nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from phoenix.common.logging import get_logger

_log = get_logger("phoenix.worker.retention")

# role -> the path of its retention endpoint (each role's README section names it).
PATHS = {
    "config": "/v1/admin/leases/sweep",  # expired peer leases
    "analytics": "/v1/admin/retention",  # monthly partitions past the window
    "auth": "/v1/admin/webhooks/retention",  # processed webhook ids older than 90 days
}


@dataclass(frozen=True)
class RetentionTarget:
    role: str
    base_url: str
    token: str


class Retention:
    def __init__(self, http: httpx.Client, targets: list[RetentionTarget]) -> None:
        self.http = http
        self.targets = {target.role: target for target in targets if target.base_url}

    def run(self, role: str) -> object:
        target = self.targets.get(role)
        if target is None:
            _log.info("retention_skipped", role=role, reason="not configured")
            return None
        response = self.http.post(
            target.base_url.rstrip("/") + PATHS[role],
            headers={"Authorization": f"Bearer {target.token}"},
        )
        response.raise_for_status()
        result: object = response.json()
        _log.info("retention_done", role=role, result=result)
        return result
