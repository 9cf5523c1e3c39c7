"""Analytics ingest: rows/s through POST /v1/events into ClickHouse, against a direct driver insert.

A ClickHouse server of the benchmark's own (Debian's clickhouse-server on private ports, with a
temporary data directory: :class:`tests.harness.clickhouse.ClickHouseServer`) holds two
databases migrated alike (events, materialized views and aggregates):

- **anchor**: the same rows the HTTP figure stores, inserted straight through clickhouse-driver
  from this process in batches of 100,000 (columnar, as fast as the driver goes): the largest
  insert the writer makes (``writer.MAX_INSERT_ROWS``), so the ratio measures what HTTP, decoding
  and buffering cost, not a difference in batch size; best of :data:`ROUNDS`. The same with
  batches of 10,000 (the writer's flush trigger) is shown for information.

  Both sides hand the driver the same encoding: the columns of ``service.to_columns`` (each
  batch of 100 grouped by event type, the type as its Enum8 name), as they are. The role builds
  them while it decodes and a flush only joins them; the anchor starts from the same columns
  already built (as any columnar producer would hold them) and only slices them per insert. So
  neither pays a row-to-column pass, and the server gets the same rows in the same order. (The
  anchor used to transpose rows inside its timing, 0.5 of its 1.2 us of client CPU per row.)
  The type stays a name rather than its Enum8 code: the driver maps either in a Python loop
  over every row, and a name is one dictionary lookup where a code is two.
- **rows/s through POST /v1/events**: the analytics role as ``phoenix serve`` runs it (granian,
  one worker, pinned to one core) loaded by ``wrk`` on the other core with batches of 100 mixed
  events (:func:`batch_body`) for :data:`LOAD_SECONDS`. The figure counts rows that reached
  ClickHouse and the time until the last accepted one did (so the final flush is inside it):
  what a client gets accepted but the writer cannot keep up with does not count as done.
  ClickHouse is not pinned: its work counts against both figures alike.
- **chDB ingest rows/s** (information): the same batches into the embedded engine in this
  process (a temporary directory), through the store the role uses.

Goal (the fleet-scale issue's, replacing "HTTP ingest at least 0.8x the direct insert"): the
role's CPU per row landed at most 2x the driver's own client CPU per row. Both rates are
wall-clock and the ClickHouse server is not pinned, so on a machine with other load they swing
by 2x from run to run (the rows/s figures stay, as information); the two CPU figures hold
still: the role's CPU per row landed (its processes' user + system time over the load and the
drain, from /proc) and the driver's client CPU per row in the anchor (this process's CPU time
over its inserts).

The floor under that goal (information, same run): after each load the same role process
answers ``/healthz`` under the same wrk for :data:`FLOOR_SECONDS`; its CPU per request, spread
over a full batch (``MAX_EVENTS`` rows, the most one request may carry), plus the driver's own
CPU per row, plus this process's CPU per row to decode, check and make the columns of the same
batch (what every row needs), is what the role would cost with nothing else on the way.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import msgspec

from bench.report import Goal, Result, format_table
from bench.servers import BenchError, free_port, placement, wrk
from phoenix.analytics.api import decode_batch
from phoenix.analytics.coarse import Coarsening
from phoenix.analytics.schemas import MAX_EVENTS
from phoenix.analytics.service import current_hour, to_columns
from phoenix.analytics.settings import FLEET_LOCATIONS
from phoenix.analytics.store import (
    EVENT_COLUMNS,
    Columns,
    EmbeddedStore,
    ServerStore,
    Value,
    migrate,
)
from phoenix.analytics.writer import MAX_INSERT_ROWS
from phoenix.dev.launcher import NotReady, Process, ProcessExited
from tests.harness.clickhouse import ClickHouseServer, count_events

ROUNDS: Final = 3
CPU_GOAL: Final = Goal.ratio_at_most(2.0)  # the role's CPU per row landed, over the driver's
DIRECT_ROWS: Final = 300_000
BATCH_ROWS: Final = MAX_INSERT_ROWS
SMALL_BATCH_ROWS: Final = 10_000
LOAD_SECONDS: Final = 10
FLOOR_SECONDS: Final = 4
DECODE_ROUNDS: Final = 5_000
CONNECTIONS: Final = 64
DRAIN_TIMEOUT: Final = 60.0


def batch_body() -> bytes:
    """100 events as a client would send them: attempts, sessions and blocking summaries."""
    kinds: list[dict[str, Any]] = []
    regions = ("de-fra", "nl-ams", "us-nyc", "sg-sin", "br-gru")
    for i in range(100):
        common = {"platform": ("ios", "android", "macos", "windows", "linux")[i % 5]}
        common["app_version"] = f"1.{i % 7}"
        if i % 3 == 0:
            kinds.append({"type": "session_summary", **common, "region": regions[i % 5],
                          "duration_bucket": "10-60min", "data_bucket": "100MB-1GB",
                          "throughput_bucket": "10-50Mbps"})  # fmt: skip
        elif i % 3 == 1:
            kinds.append({"type": "connection_attempt", **common, "region": regions[i % 5],
                          "outcome": "ok" if i % 4 else "timeout",
                          "latency_bucket": "100-300ms"})  # fmt: skip
        else:
            kinds.append({"type": "blocking_summary", **common, "blocked_mb_bucket": "1-10MB",
                          "blocked_requests_bucket": "10-100",
                          "time_saved_bucket": "1-10s"})  # fmt: skip
    return msgspec.json.encode({"events": kinds})


def same_columns(body: bytes, total: int) -> Columns:
    """``total`` rows: the columns the role makes of ``body``, repeated as the load repeats it."""
    # The role's default coarsening (the fleet's locations, the default app versions).
    coarsening = Coarsening(FLEET_LOCATIONS)
    batch = to_columns(decode_batch("application/json", body).events, current_hour(), coarsening)
    times = total // len(batch[0]) + 1
    return [(list(column) * times)[:total] for column in batch]


def decoding_cpu(body: bytes, rounds: int = DECODE_ROUNDS) -> float:
    """This process's CPU per row, in microseconds, to decode and check ``body`` and make its
    columns, as the role does for each request (phoenix.analytics.api, .service)."""
    coarsening = Coarsening(FLEET_LOCATIONS)
    hour = current_hour()
    started = time.process_time()
    for _ in range(rounds):
        events = decode_batch("application/json", body).events
        to_columns(events, hour, coarsening)
    return (time.process_time() - started) / rounds / len(events) * 1e6


def _slice(columns: Columns, first: int, rows: int) -> list[Sequence[Value]]:
    return [column[first : first + rows] for column in columns]


def direct_insert(url: str, columns: Columns, batch_rows: int = BATCH_ROWS) -> tuple[float, float]:
    """Rows/s of clickhouse-driver inserting ``columns`` in batches of ``batch_rows``, and its
    client CPU per row in microseconds."""
    from clickhouse_driver import Client

    client = Client.from_url(url)
    statement = "INSERT INTO events ({}) VALUES".format(
        ", ".join((*EVENT_COLUMNS, "insert_marker"))
    )
    total = len(columns[0])
    started, cpu = time.perf_counter(), time.process_time()
    for first in range(0, total, batch_rows):
        batch = _slice(columns, first, batch_rows)
        batch.append([0] * len(batch[0]))
        client.execute(statement, batch, columnar=True, types_check=False)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    client.disconnect()
    return total / elapsed, cpu / total * 1e6


def embedded_insert(columns: Columns) -> float:
    total = len(columns[0])
    with tempfile.TemporaryDirectory(prefix="phoenix-bench-chdb-") as directory:
        store = EmbeddedStore(directory)
        migrate(store)
        started = time.perf_counter()
        for first in range(0, total, SMALL_BATCH_ROWS):
            store.insert(_slice(columns, first, SMALL_BATCH_ROWS), marker=first + 1)
        elapsed = time.perf_counter() - started
        store.close()
    return total / elapsed


def _tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its children (granian's worker), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for process in (pid, *map(int, children)):
        with contextlib.suppress(OSError):
            # Fields after the command (which may hold spaces): utime and stime are 14 and 15.
            fields = Path(f"/proc/{process}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


class Ingest(msgspec.Struct, frozen=True):
    rows_per_second: float
    cpu_per_row: float  # us: the role's processes, over the load and the drain
    cpu_per_request: float  # us: the same processes answering /healthz, the stack alone
    note: str


def http_ingest(url: str, body: bytes, work: Path) -> Ingest:
    """Rows/s landed in ClickHouse through the role, its CPU per row, and (the floor under it)
    its CPU per request of the plainest route it serves, ``/healthz``, under the same load."""
    cpus = placement()
    port, ops_port = free_port(), free_port()
    env = {
        **os.environ,
        "PHOENIX_OPS_PORT": str(ops_port),
        "PHOENIX_ROLE": "analytics",
        "PHOENIX_ENV": "test",
        "PHOENIX_LOG_LEVEL": "warning",
        "PHOENIX_CLICKHOUSE_URL": url,
        "PHOENIX_BUFFER_MAX_ROWS": "5000000",
        "PHOENIX_INGEST_EVENTS_PER_SECOND": "100000000",
        "PHOENIX_INGEST_BURST_EVENTS": "100000000",
    }
    argv = [sys.executable, "-m", "phoenix", "serve", "--role", "analytics", "--port", str(port)]
    if cpus.pinned:
        argv = ["taskset", "-c", ",".join(map(str, cpus.server_cpus)), *argv]
    process = Process(argv, env=env, log=work / "role.log")
    script = work / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{body.decode()}]]\n"
    )
    try:
        try:
            process.wait_ready(lambda: _ready(ops_port), 30, "the analytics role")
        except (ProcessExited, NotReady) as error:
            raise BenchError(str(error)) from None
        before = count_events(url)
        cpu = _tree_cpu_seconds(process.pid)
        started = time.perf_counter()
        result = wrk(
            f"http://127.0.0.1:{port}/v1/events",
            seconds=LOAD_SECONDS,
            connections=CONNECTIONS,
            cpus=cpus.load_cpus,
            script=script,
        )
        expected = before + result.requests * 100
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while (landed := count_events(url)) < expected:
            if time.monotonic() > deadline:
                raise BenchError(f"only {landed - before} of {expected - before} rows landed")
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        cpu = _tree_cpu_seconds(process.pid) - cpu
        idle_cpu = _tree_cpu_seconds(process.pid)
        stack = wrk(
            f"http://127.0.0.1:{port}/healthz",
            seconds=FLOOR_SECONDS,
            connections=CONNECTIONS,
            cpus=cpus.load_cpus,
        )
        stack_cpu = _tree_cpu_seconds(process.pid) - idle_cpu
    finally:
        process.stop(grace=40)
    note = f"{result.requests_per_second:,.0f} req/s accepted, p99 {result.p99_ms:.1f} ms"
    rows = landed - before
    return Ingest(
        rows_per_second=rows / elapsed,
        cpu_per_row=cpu / rows * 1e6,
        cpu_per_request=stack_cpu / stack.requests * 1e6,
        note=note,
    )


def _ready(ops_port: int) -> bool:
    """Whether /readyz (on the role's ops port) answers 200."""
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{ops_port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def run() -> Sequence[Result]:
    body = batch_body()
    columns = same_columns(body, DIRECT_ROWS)
    with tempfile.TemporaryDirectory(prefix="phoenix-bench-ch-") as tmp:
        server = ClickHouseServer(Path(tmp))
        if not server.available():
            raise BenchError("clickhouse-server is not installed (make test installs it)")
        server.start()
        try:
            for name in ("bench_direct", "bench_http"):
                server.query(f"CREATE DATABASE IF NOT EXISTS {name}")
                store = ServerStore(server.url(name))
                migrate(store)
                store.close()
            direct, direct_cpu, small, http, http_cpu, stack_cpu = [], [], [], [], [], []
            note = ""
            for _ in range(ROUNDS):
                rate, cpu = direct_insert(server.url("bench_direct"), columns)
                direct.append(rate)
                direct_cpu.append(cpu)
                small.append(
                    direct_insert(server.url("bench_direct"), columns, SMALL_BATCH_ROWS)[0]
                )
                ingest = http_ingest(server.url("bench_http"), body, Path(tmp))
                http.append(ingest.rows_per_second)
                http_cpu.append(ingest.cpu_per_row)
                stack_cpu.append(ingest.cpu_per_request)
                note = ingest.note
        finally:
            server.stop()
    embedded = embedded_insert(columns)
    decoding = decoding_cpu(body)
    anchor = "clickhouse-driver batch insert (100,000 rows)"
    print(
        f"analytics: HTTP rounds {[round(h) for h in http]}, CPU us/row "
        f"{[round(c, 2) for c in http_cpu]}; direct {[round(d) for d in direct]}, CPU us/row "
        f"{[round(c, 2) for c in direct_cpu]}; /healthz CPU us/request "
        f"{[round(c, 1) for c in stack_cpu]}; decoding {decoding:.2f} us/row; last: {note}",
        file=sys.stderr,
    )
    return [
        Result(
            figure="POST /v1/events into ClickHouse, rows/s (1 worker)",
            value=max(http),
            unit="rows/s",
            anchor=anchor,
            anchor_value=max(direct),
        ),
        Result(
            figure="clickhouse-driver batch insert (10,000 rows), rows/s",
            value=max(small),
            unit="rows/s",
            anchor=anchor,
            anchor_value=max(direct),
        ),
        Result(
            figure="POST /v1/events: the role's CPU per row landed (lower is better)",
            value=min(http_cpu),
            unit="us/row",
            anchor="clickhouse-driver client CPU per row (100,000 rows)",
            anchor_value=min(direct_cpu),
            goal=CPU_GOAL,
        ),
        # The floor under that goal, measured in the same run: a request's share of the
        # role's stack alone (its /healthz, no body; a batch is at most MAX_EVENTS rows), the
        # decoding and columns every row needs, and the driver's own CPU per row.
        Result(
            figure=(
                f"floor: /healthz CPU per request / {MAX_EVENTS} rows + decoding and columns "
                "+ the driver, per row"
            ),
            value=round(min(stack_cpu) / MAX_EVENTS + decoding + min(direct_cpu), 3),
            unit="us/row",
            anchor="clickhouse-driver client CPU per row (100,000 rows)",
            anchor_value=min(direct_cpu),
        ),
        Result(
            figure="chDB (embedded) ingest, batches of 10,000, rows/s",
            value=embedded,
            unit="rows/s",
            anchor=anchor,
            anchor_value=max(direct),
        ),
    ]


if __name__ == "__main__":
    print(format_table(run()))
