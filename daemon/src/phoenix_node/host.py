"""Host aggregates for the heartbeat: CPU, load and memory use (no per-peer data)."""

from __future__ import annotations

import os

import psutil  # type: ignore[import-untyped]


def cpu_percent() -> float:
    """CPU use since the previous call (the first call primes the counter and says 0)."""
    return float(min(100.0, max(0.0, psutil.cpu_percent(interval=None))))


def load1() -> float:
    return float(os.getloadavg()[0])


def memory_percent() -> float:
    return float(psutil.virtual_memory().percent)
