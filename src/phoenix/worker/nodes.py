"""The config role's node API, as the worker calls it (monitor credential, over HTTP only)."""

from __future__ import annotations

import uuid

import httpx
import msgspec

from phoenix.worker.schemas import DrainRequest, NodeList, NodeStatus, NodeSummary


class ConfigApi:
    def __init__(self, http: httpx.Client, base_url: str, monitor_token: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {monitor_token}"}

    def _post(self, path: str, body: bytes | None = None) -> httpx.Response:
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = self.http.post(self.base_url + path, content=body, headers=headers)
        response.raise_for_status()  # 4xx/5xx: the job fails and is retried
        return response

    def nodes(self, status: NodeStatus) -> list[NodeSummary]:
        response = self.http.get(
            self.base_url + "/v1/nodes", params={"status": status}, headers=self.headers
        )
        response.raise_for_status()
        return msgspec.json.decode(response.content, type=NodeList).nodes

    def drain(self, node_id: uuid.UUID, reason: str) -> None:
        request = DrainRequest(id=node_id, reason=reason)  # type: ignore[arg-type]
        self._post("/node/drain", msgspec.json.encode(request))

    def terminated(self, node_id: uuid.UUID) -> None:
        self._post(f"/v1/nodes/{node_id}/terminated")

    def sweep_leases(self) -> dict[str, int]:
        answer: dict[str, int] = self._post("/v1/admin/leases/sweep").json()
        return answer
