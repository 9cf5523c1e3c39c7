"""Whatever a client sends, ingest answers 202 or a 4xx problem and stores just what it accepted."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from phoenix.analytics.app import create_app
from phoenix.analytics.store import Store
from tests.integration.analytics.conftest import (
    blocking_summary,
    connection_attempt,
    count,
    session_summary,
)
from tests.integration.analytics.conftest import settings as role_settings

ACCEPTABLE = {202, 400, 413, 415, 422}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
valid_events = st.sampled_from([connection_attempt(), session_summary(), blocking_summary()])


@st.composite
def mutated_batches(draw: st.DrawFn) -> Any:
    """A batch of valid events, sometimes with one field of one event replaced or added."""
    events = [dict(e) for e in draw(st.lists(valid_events, min_size=1, max_size=6))]
    if draw(st.booleans()):
        target = draw(st.sampled_from(events))
        key = draw(st.sampled_from([*target, "extra", "hour", "ip", "user_agent"]))
        target[key] = draw(json_values)
    return {"events": events}


bodies = st.one_of(
    mutated_batches().map(lambda body: json.dumps(body).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=64),
)


def test_any_body_is_accepted_or_refused_with_a_4xx_and_only_accepted_events_are_stored(
    store: Store,
) -> None:
    accepted = 0
    app = create_app(role_settings(), store=store)
    with TestClient(app) as client:

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(body=bodies)
        def post(body: bytes) -> None:
            nonlocal accepted
            answer = client.post(
                "/v1/events", content=body, headers={"content-type": "application/json"}
            )
            assert answer.status_code in ACCEPTABLE, (body, answer.text)
            if answer.status_code == 202:
                accepted += answer.json()["accepted"]
            else:
                assert answer.headers["content-type"] == "application/problem+json"

        post()
    # Leaving the client ran the shutdown flush: every accepted event is stored, nothing else.
    assert accepted > 0  # the valid half of the strategy really got through
    assert count(store) == accepted
