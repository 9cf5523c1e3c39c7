"""Analytics ingest from outside bytes, tested from outside the role (its source is not touched):
any body is a batch or one of the three declared problems (415, 400, 422), a 422 names an event
that exists, and an accepted batch re-encodes to a batch that decodes to itself."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix.analytics.api import decode_batch
from phoenix.analytics.coarse import Coarsening
from phoenix.analytics.service import InvalidEvents, to_columns
from phoenix.common.bodies import MalformedBody, UnsupportedBodyType
from tests.fuzz.budget import FUZZ
from tests.fuzz.mutations import mutated
from tests.integration.analytics.conftest import (
    blocking_summary,
    connection_attempt,
    session_summary,
)

COARSENING = Coarsening(["de-fra", "nl-ams"], ["1.4"])
EVENTS = [connection_attempt(), session_summary(), blocking_summary()]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=8,
)


@st.composite
def batches(draw: st.DrawFn) -> Any:
    events = [dict(e) for e in draw(st.lists(st.sampled_from(EVENTS), min_size=0, max_size=5))]
    for _ in range(draw(st.integers(0, 2))):
        if events:
            target = draw(st.sampled_from(events))
            key = draw(st.sampled_from([*target, "type", "ip", "hour", "session_id"]))
            target[key] = draw(
                json_values | st.sampled_from(["de-fra", "xx-yyy", "9.9", "1.4", "1.4\n"])
            )
    return {"events": events} if draw(st.integers(0, 9)) else draw(json_values)


bodies = batches().map(lambda value: json.dumps(value).encode())


@FUZZ
@given(
    st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", ""]),
    mutated(bodies, most=3) | bodies,
)
def test_any_body_is_a_batch_or_a_declared_problem(content_type: str, body: bytes) -> None:
    try:
        batch = decode_batch(content_type, body)
        columns = to_columns(batch.events, 490000, COARSENING)
    except UnsupportedBodyType:
        assert not content_type.startswith("application/json")
        return
    except MalformedBody:
        return
    except InvalidEvents as problem:
        index = problem.index
    else:
        assert all(len(column) == len(batch.events) >= 1 for column in columns)
        assert set(columns[4]) <= COARSENING.regions | {""}  # region: listed, other, or none
        assert set(columns[3]) <= COARSENING.app_versions
        assert msgspec.json.decode(msgspec.json.encode(batch), type=type(batch)) == batch
        return
    if index is not None:
        # msgspec stops at the first invalid event, so the rest may not even be JSON.
        with contextlib.suppress(ValueError):
            assert 0 <= index < len(json.loads(body)["events"])


def test_a_valid_batch_is_accepted() -> None:
    batch = decode_batch("application/json", json.dumps({"events": EVENTS}).encode())
    assert len(to_columns(batch.events, 1, COARSENING)[0]) == 3


def test_bad_utf8_inside_a_string_is_a_malformed_body() -> None:
    """Found by this file: msgspec raises UnicodeDecodeError, not DecodeError, for bad UTF-8
    inside a string; it was a 500 and is now the 400 of any malformed body."""
    with pytest.raises(MalformedBody):
        decode_batch("application/json", b'{"events": [{"type": "\x80"}]}')
