"""The benchmark report: ratios, goals, pass/fail, the JSON file's shape and the runner's exit code.

No timing is asserted here; these tests only check how measured numbers are reported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench import registry
from bench.report import JSON_KEYS, Goal, Result, format_table, to_json, write_json
from bench.servers import parse_wrk

KEYS = {"figure", "value", "unit", "anchor", "anchor_value", "ratio", "goal", "pass"}


def result(value: float, anchor_value: float | None = 100.0, goal: Goal | None = None) -> Result:
    return Result(
        figure="blind sign/s",
        value=value,
        unit="sign/s",
        anchor=None if anchor_value is None else "openssl sign/s",
        anchor_value=anchor_value,
        goal=goal,
    )


def test_json_has_exactly_the_documented_keys(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "results.json"
    write_json([result(80.0, goal=Goal.ratio_at_least(0.6)), result(5.0, None)], path)
    rows = json.loads(path.read_text())
    assert isinstance(rows, list)
    assert len(rows) == 2
    for row in rows:
        assert set(row) == KEYS
        assert tuple(row) == JSON_KEYS


def test_json_values() -> None:
    [row] = json.loads(to_json([result(80.0, goal=Goal.ratio_at_least(0.6))]))
    assert row == {
        "figure": "blind sign/s",
        "value": 80.0,
        "unit": "sign/s",
        "anchor": "openssl sign/s",
        "anchor_value": 100.0,
        "ratio": 0.8,
        "goal": ">= 0.6x",
        "pass": True,
    }


def test_ratio_is_value_over_anchor_rounded_in_json() -> None:
    record = result(2.0, 3.0)
    assert record.ratio == pytest.approx(2 / 3)
    assert json.loads(to_json([record]))[0]["ratio"] == 0.667


@pytest.mark.parametrize("anchor_value", [None, 0.0])
def test_no_ratio_without_a_usable_anchor(anchor_value: float | None) -> None:
    record = result(5.0, anchor_value)
    assert record.ratio is None
    assert json.loads(to_json([record]))[0]["ratio"] is None


def test_no_goal_means_pass_is_null() -> None:
    record = result(1.0)
    assert record.passed is None
    row = json.loads(to_json([record]))[0]
    assert row["goal"] is None
    assert row["pass"] is None


@pytest.mark.parametrize(
    ("value", "goal", "passed"),
    [
        (60.0, Goal.ratio_at_least(0.6), True),  # the boundary counts as met
        (59.9, Goal.ratio_at_least(0.6), False),
        (150.0, Goal.ratio_at_most(1.5), True),
        (151.0, Goal.ratio_at_most(1.5), False),
        (900.0, Goal.value_at_most(1000, "ms"), True),
        (1100.0, Goal.value_at_most(1000, "ms"), False),
        (1100.0, Goal.value_at_least(1000, "ms"), True),
        (math.nan, Goal.ratio_at_least(0.6), False),
    ],
)
def test_pass_against_the_goal(value: float, goal: Goal, passed: bool) -> None:
    assert result(value, goal=goal).passed is passed


def test_a_ratio_goal_without_an_anchor_fails_rather_than_passes() -> None:
    assert result(100.0, None, Goal.ratio_at_least(0.6)).passed is False


def test_a_value_goal_needs_no_anchor() -> None:
    assert result(0.3, None, Goal.value_at_most(1, "s")).passed is True


@pytest.mark.parametrize(
    ("goal", "text"),
    [
        (Goal.ratio_at_least(0.6), ">= 0.6x"),
        (Goal.ratio_at_most(1.5), "<= 1.5x"),
        (Goal.ratio_at_least(1), ">= 1x"),
        (Goal.value_at_most(1000, "ms"), "<= 1000 ms"),
    ],
)
def test_goal_is_human_readable(goal: Goal, text: str) -> None:
    assert goal.describe() == text


def test_table_shows_every_column_and_the_verdicts() -> None:
    table = format_table(
        [
            result(80.0, goal=Goal.ratio_at_least(0.6)),
            result(50.0, goal=Goal.ratio_at_least(0.6)),
            result(7.0, None),
        ]
    )
    header, _rule, *lines = table.splitlines()
    for title in ("figure", "value", "unit", "anchor", "anchor value", "ratio", "goal", "pass"):
        assert title in header
    assert len(lines) == 3
    assert "0.80x" in lines[0]
    assert lines[0].endswith("PASS")
    assert lines[1].endswith("FAIL")
    assert lines[2].endswith("info")


def missed_goal() -> Sequence[Result]:
    return [result(10.0, goal=Goal.ratio_at_least(0.6))]


def broken() -> Sequence[Result]:
    raise RuntimeError("boom")


def test_the_runner_reports_a_crash_but_keeps_the_others(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    benchmarks = (
        registry.Benchmark("missed", f"{__name__}:missed_goal"),
        registry.Benchmark("broken", f"{__name__}:broken"),
    )
    monkeypatch.setattr(bench_main, "BENCHMARKS", benchmarks)
    output = tmp_path / "results.json"

    # a missed goal alone is still exit code 0: the bench is a report, not a test
    assert bench_main.main(["--only", "missed", "--output", str(output)]) == 0
    assert json.loads(output.read_text())[0]["pass"] is False

    assert bench_main.main(["--output", str(output)]) == 1
    assert [row["figure"] for row in json.loads(output.read_text())] == ["blind sign/s"]
    assert "broken CRASHED" in capsys.readouterr().err


def test_the_runner_refuses_an_unknown_name() -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_main.main(["--only", "no-such-benchmark"])
    assert exit_info.value.code == 2


def test_every_registered_benchmark_can_be_loaded() -> None:
    names = [benchmark.name for benchmark in registry.BENCHMARKS]
    assert len(names) == len(set(names))
    for benchmark in registry.BENCHMARKS:
        assert callable(benchmark.load())


WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:40000/healthz
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.12ms  512.00us  20.01ms   90.00%
    Req/Sec    20.5k     1.2k   22.0k    80.00%
  Latency Distribution
     50%  850.00us
     75%    3.10ms
     90%    3.40ms
     99%    1.20s
  102400 requests in 5.00s, 15.78MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:  20480.50
Transfer/sec:      3.15MB
"""


def test_wrk_output_is_parsed_with_its_units() -> None:
    parsed = parse_wrk(WRK_OUTPUT)
    assert parsed.requests == 102400
    assert parsed.seconds == pytest.approx(5.0)
    assert parsed.requests_per_second == pytest.approx(20480.5)
    assert parsed.p50_ms == pytest.approx(0.85)
    assert parsed.p99_ms == pytest.approx(1200.0)
    assert parsed.socket_errors == 3
    assert parsed.non_2xx == 0
