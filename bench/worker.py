"""The blocklist filter: size against the optimum, false-positive rate, build time, lookups/s.

Every anchor is computed or measured in the same run: the optimum size from n and p, the target
rate itself, and the SHA-256 rate of this machine over the same inputs a lookup hashes (the
floor of any reader of the format: a lookup is ⌈k/8⌉ digests plus bit tests).
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Sequence

from bench.report import Goal, Result
from phoenix.worker import bloom

BUILD_NAMES = 200_000
PROBES = 1_000_000
FP_RATE_MEASURED = 1e-3  # 1,000 expected false positives in 10^6 probes: a stable estimate


def _names(count: int, seed: int, suffix: str) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(48):012x}.{suffix}" for _ in range(count)]


def _false_positive_rate(p: float) -> tuple[float, bloom.BloomFilter]:
    members = _names(BUILD_NAMES, 1, "ads.example.com")
    reader = bloom.BloomFilter(bloom.build(members, p))
    probes = _names(PROBES, 2, "clean.example.net")
    hits = sum(map(reader.contains_normalised, probes))
    return hits / PROBES, reader


def _sha256_per_second(names: list[str], digests_each: int) -> float:
    encoded = [name.encode() for name in names]
    started = time.perf_counter()
    for name in encoded:
        for block in range(digests_each):
            hashlib.sha256(bytes((block,)) + name).digest()
    return len(encoded) / (time.perf_counter() - started)


def run() -> Sequence[Result]:
    members = _names(BUILD_NAMES, 1, "ads.example.com")
    p = 1e-6
    started = time.perf_counter()
    data = bloom.build(members, p)
    build_seconds = time.perf_counter() - started
    reader = bloom.BloomFilter(data)
    k = reader.parameters.k
    optimum_bytes = bloom.optimal_bits(BUILD_NAMES, p) / 8

    probes = _names(200_000, 3, "clean.example.net")
    started = time.perf_counter()
    for name in probes:
        reader.contains_normalised(name)
    lookups = len(probes) / (time.perf_counter() - started)
    floor = _sha256_per_second(probes, math.ceil(k / 8))

    measured, _ = _false_positive_rate(FP_RATE_MEASURED)
    measured_default, _ = _false_positive_rate(p)
    return [
        Result(
            figure=f"filter size, {BUILD_NAMES:,} names at p=1e-6 (k={k})",
            value=len(data),
            unit="bytes",
            anchor="optimum -n ln p / (ln 2)^2 bits",
            anchor_value=optimum_bytes,
            goal=Goal.ratio_at_most(1.01),
        ),
        Result(
            figure=f"false-positive rate on {PROBES:,} non-members, p={FP_RATE_MEASURED:g}",
            value=measured,
            unit="",
            anchor="target p",
            anchor_value=FP_RATE_MEASURED,
            goal=Goal.ratio_at_most(1.2),
        ),
        Result(
            figure=f"false-positive rate on {PROBES:,} non-members, p=1e-6",
            value=measured_default,
            unit="",
            anchor="target p (about 1 hit expected)",
            anchor_value=p,
        ),
        Result(
            figure=f"filter build, {BUILD_NAMES:,} names",
            value=build_seconds,
            unit="s",
            goal=Goal.value_at_most(10.0, "s"),
        ),
        Result(
            figure="reader lookups/s (Python reference reader)",
            value=lookups,
            unit="lookups/s",
            anchor=f"SHA-256 rate over the same inputs ({math.ceil(k / 8)} digests per name)",
            anchor_value=floor,
            goal=Goal.ratio_at_least(0.2),
        ),
    ]
