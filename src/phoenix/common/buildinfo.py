"""``phoenix_build_info``: which build and which signing backend a role process runs.

A constant 1 whose labels carry the facts, the Prometheus way of exporting build metadata, so a
dashboard or an alert can join on it (a rollout half done, an auth replica that fell back from
OpenSSL to GMP for its blind signatures)."""

from __future__ import annotations

from functools import cache

from prometheus_client import Gauge

from phoenix import __version__


@cache
def _series() -> Gauge:
    return Gauge(
        "phoenix_build_info",
        "The running build: 1, labelled by role, version and blind-signature backend",
        ("role", "version", "signing_backend"),
        multiprocess_mode="max",  # every server worker of a process group says the same
    )


def publish(role: str, signing_backend: str = "none") -> None:
    _series().labels(role, __version__, signing_backend).set(1)
