"""``python -m bench [--only NAME ...] [--output PATH] [--list]``.

Runs the registered benchmarks, prints one table and writes the JSON report. The exit code is 0
even when a goal is missed (this is a report, not a test) and 1 when a benchmark crashed.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from bench.registry import BENCHMARKS, Benchmark
from bench.report import Result, format_table, write_json

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"
# bench.node and bench.resolver drive the daemon with its tests' harness (node_harness: network
# namespaces), which pytest finds by its `pythonpath` setting and `python -m bench` by this.
DAEMON_TESTS = Path(__file__).resolve().parents[1] / "daemon" / "tests"


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    names = [benchmark.name for benchmark in BENCHMARKS]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these benchmarks (repeatable or comma-separated): {', '.join(names)}",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the JSON report")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    wanted = {name.strip() for item in args.only for name in item.split(",") if name.strip()}
    unknown = sorted(wanted - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    args.selected = [b for b in BENCHMARKS if not wanted or b.name in wanted]
    return args


def run_all(selected: Sequence[Benchmark]) -> tuple[list[Result], list[str]]:
    """Run each benchmark; a crash is printed and recorded, and the others still run."""
    results: list[Result] = []
    crashed: list[str] = []
    for benchmark in selected:
        started = time.monotonic()
        print(f"bench: running {benchmark.name} ...", file=sys.stderr, flush=True)
        try:
            records = list(benchmark.load()())
        except Exception:
            traceback.print_exc()
            crashed.append(benchmark.name)
            print(f"bench: {benchmark.name} CRASHED", file=sys.stderr, flush=True)
            continue
        elapsed = time.monotonic() - started
        print(f"bench: {benchmark.name} done in {elapsed:.1f} s", file=sys.stderr, flush=True)
        results.extend(records)
    return results, crashed


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if args.list:
        for benchmark in BENCHMARKS:
            print(benchmark.name)
        return 0
    if str(DAEMON_TESTS) not in sys.path:
        sys.path.append(str(DAEMON_TESTS))
    results, crashed = run_all(args.selected)
    print(format_table(results))
    write_json(results, args.output)
    print(f"\nwrote {args.output}")
    if crashed:
        print(f"crashed: {', '.join(crashed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
