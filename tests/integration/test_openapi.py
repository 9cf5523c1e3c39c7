"""Every role publishes its OpenAPI document, and it lists the role's own routes."""

from __future__ import annotations

from typing import get_args

import pytest
from litestar.testing import TestClient

from phoenix.app import create_app, settings_type
from phoenix.settings import load
from tests.harness import issuer

ENV = {
    "PHOENIX_ENV": "test",
    "PHOENIX_USERDB_URL": "postgresql://postgres@127.0.0.1:5432/phoenix_users",
    "PHOENIX_NODEDB_URL": "postgresql://postgres@127.0.0.1:5432/phoenix_nodes",
    "PHOENIX_ISSUER_SIGNING_KEYS": issuer.bundle(),
    "PHOENIX_FIREBASE_PROJECT_ID": "demo-phoenix",
}
ROUTES = {
    "auth": {"/.well-known/private-token-issuer-directory", "/v1/tokens"},
    "config": set(),
    "analytics": {
        "/v1/events",
        "/v1/reports/connection-failures",
        "/v1/reports/usage",
        "/v1/reports/value",
        "/v1/admin/retention",
        "/reports",
    },
    "worker": set(),
}


@pytest.mark.parametrize("role", sorted(ROUTES))
def test_the_role_serves_its_openapi(role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9")
    settings = load(settings_type(role), ENV)  # type: ignore[arg-type]
    app = create_app(role, settings)  # type: ignore[arg-type]
    # Route listing only: the lifespan (and so any connection or worker) is not started.
    client = TestClient(app)
    schema = client.get("/schema/openapi.json").json()
    assert schema["info"]["title"] == f"Phoenix {role}"
    assert {"/healthz", "/readyz"} | ROUTES[role] <= set(schema["paths"])


def test_the_analytics_event_schema_publishes_every_bucket() -> None:
    from phoenix.analytics.schemas import LatencyBucket

    app = create_app("analytics", load(settings_type("analytics"), ENV))  # type: ignore[arg-type]
    schema = TestClient(app).get("/schema/openapi.json").json()
    body = schema["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    published = str(body["schema"])
    assert "connection_attempt" in published
    assert all(bucket in published for bucket in get_args(LatencyBucket))
