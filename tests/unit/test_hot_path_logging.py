"""The access log's lines: the same JSON lines as every other logger's, flushed once per turn."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import structlog

from phoenix.common import logging as phoenix_logging
from phoenix.common.logging import HotPathLogger, configure_logging, get_logger

# No fraction of a second: a finer time would join log lines to a load balancer's (address, time).
WHOLE_SECOND = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class Stdout(io.TextIOWrapper):
    """A stdout whose bytes can be read back, and whose flushes are counted."""

    def __init__(self) -> None:
        self.raw_bytes = io.BytesIO()
        self.flushes = 0
        outer = self

        class Counting(io.BufferedWriter):
            def flush(self) -> None:
                outer.flushes += 1
                super().flush()

        super().__init__(Counting(self.raw_bytes), encoding="utf-8")  # type: ignore[arg-type]

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw_bytes.getvalue().splitlines()]


@pytest.fixture
def stdout(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stdout]:
    # Set in the test's own phase: pytest puts its own capture back on sys.stdout when the
    # test's call begins, over a replacement made while fixtures were set up.
    captured = Stdout()
    monkeypatch.setattr(phoenix_logging, "_output", None)  # as no test configured logging
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield captured
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def configure(stdout: Stdout, level: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", stdout)
    configure_logging(level, role="config")


def test_a_line_is_the_line_structlog_writes(
    stdout: Stdout, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(stdout, "info", monkeypatch)
    fields = {"method": "GET", "route": "/v1/x", "status": 200, "duration_ms": 1.5}
    get_logger("phoenix.access").info("request", **fields)
    HotPathLogger("phoenix.access").info("request", **fields)
    sys.stdout.buffer.flush()
    slow, fast = stdout.lines()
    assert list(fast) == list(slow)  # the same fields, in the same order
    assert {k: v for k, v in fast.items() if k != "timestamp"} == {
        k: v for k, v in slow.items() if k != "timestamp"
    }
    assert fast["role"] == "config"
    assert fast["logger"] == "phoenix.access"
    # The TimeStamper's format, to the whole second: 2026-12-02T07:24:53Z
    assert WHOLE_SECOND.match(fast["timestamp"])
    assert WHOLE_SECOND.match(slow["timestamp"])
    made = [datetime.fromisoformat(line["timestamp"]) for line in (slow, fast)]
    assert 0 <= (made[1] - made[0]).total_seconds() <= 1


def test_a_standard_library_line_is_stamped_to_the_second_too(
    stdout: Stdout, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ASGI server's, SQLAlchemy's and Dramatiq's lines go through json_formatter.
    configure(stdout, "info", monkeypatch)
    logging.getLogger("_granian").warning("started")
    sys.stdout.flush()
    (line,) = stdout.lines()
    assert line["event"] == "started"
    assert WHOLE_SECOND.match(line["timestamp"]), line


def test_below_the_configured_level_nothing_is_written(
    stdout: Stdout, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(stdout, "warning", monkeypatch)
    HotPathLogger("phoenix.access").info("request", status=200)
    sys.stdout.buffer.flush()
    assert stdout.lines() == []


def test_lines_of_one_loop_turn_share_one_flush_and_keep_their_order(
    stdout: Stdout, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(stdout, "info", monkeypatch)
    access = HotPathLogger("phoenix.access")

    async def burst() -> tuple[int, int]:
        before = stdout.flushes
        for number in range(10):
            access.info("request", number=number)
        get_logger("phoenix.other").info("between")  # flushes its own line, and ours before it
        access.info("request", number=10)
        during = stdout.flushes - before
        await asyncio.sleep(0)  # the turn ends: the pending line is written out
        return during, stdout.flushes - before

    during, after = asyncio.run(burst())
    assert during == 1  # the other logger's
    assert after == 2
    events = [(line["event"], line.get("number")) for line in stdout.lines()]
    assert events == [*(("request", n) for n in range(10)), ("between", None), ("request", 10)]


def test_outside_an_event_loop_a_line_is_flushed_at_once(
    stdout: Stdout, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(stdout, "info", monkeypatch)
    HotPathLogger("phoenix.access").info("request", status=204)
    assert [line["status"] for line in stdout.lines()] == [204]
