"""The benchmarks ``python -m bench`` runs, in order.

To add one: write ``bench/<name>.py`` with a ``run() -> Sequence[Result]`` function and append
``Benchmark("<name>", "bench.<name>:run")`` below. Targets are strings so that a benchmark whose
imports fail is reported as crashed instead of stopping every other benchmark.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Final

import msgspec

from bench.report import Result

BenchmarkFunction = Callable[[], Sequence[Result]]


class Benchmark(msgspec.Struct, frozen=True):
    name: str
    target: str  # "module:function"

    def load(self) -> BenchmarkFunction:
        module_name, _, function_name = self.target.partition(":")
        function: BenchmarkFunction = getattr(importlib.import_module(module_name), function_name)
        return function


BENCHMARKS: Final[tuple[Benchmark, ...]] = (
    Benchmark("asgi_servers", "bench.asgi_servers:run"),
    Benchmark("crypto", "bench.crypto:run"),
    Benchmark("selection", "bench.selection:run"),
    Benchmark("issuance", "bench.issuance:run"),
    Benchmark("config", "bench.config:run"),
    Benchmark("fleet", "bench.fleet:run"),
    Benchmark("analytics", "bench.analytics:run"),
    Benchmark("node", "bench.node:run"),
    Benchmark("worker", "bench.worker:run"),
    Benchmark("resolver", "bench.resolver:run"),
    # Benchmark("<name>", "bench.<name>:run"),
)
