"""Every role publishes its OpenAPI document on its ops port: the public port's routes, the
role's own and ``/healthz``, and none of the ops port's."""

from __future__ import annotations

import re
from typing import get_args

import pytest
from litestar.testing import TestClient

from phoenix.app import create_app, settings_type
from phoenix.common.web import ops_app
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
    schema = TestClient(ops_app(app)).get("/schema/openapi.json").json()
    assert schema["info"]["title"] == f"Phoenix {role}"
    assert {"/healthz"} | ROUTES[role] <= set(schema["paths"])
    assert not {"/readyz", "/metrics"} & set(schema["paths"])
    assert TestClient(app).get("/schema/openapi.json").status_code == 404
    # Every reference resolves: no route leans on a component only an ops route brought in.
    components = set(schema.get("components", {}).get("schemas", {}))
    for reference in re.findall(r"#/components/schemas/([^'\"]+)", str(schema)):
        assert reference in components, reference


def test_the_analytics_event_schema_publishes_every_bucket() -> None:
    from phoenix.analytics.schemas import LatencyBucket

    app = create_app("analytics", load(settings_type("analytics"), ENV))  # type: ignore[arg-type]
    schema = TestClient(ops_app(app)).get("/schema/openapi.json").json()
    body = schema["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    published = str(body["schema"])
    assert "connection_attempt" in published
    assert all(bucket in published for bucket in get_args(LatencyBucket))
