"""Request metrics, recorded by the access-log wrapper that already times every request.

Litestar's Prometheus middleware built a Request object, label dicts and an in-progress gauge
per request: about 23 µs of a hello-world request's 14 µs, measured in process. These are the
same two series under the same names and labels (``phoenix_requests_total`` and
``phoenix_request_duration_seconds``, labelled by app, method, route template and status), for
about a tenth of that. Unmatched paths count under one ``<unmatched>`` label, never the path.

The duration buckets are fitted to what was measured: the hot paths answer in 0.05-0.4 ms, so
the default buckets (5 ms and up) put every one of them in the first. A long-poll waits up to
25 s by design; in the same histogram it would drag every percentile of its route's app, so it
has its own series (``phoenix_long_poll_duration_seconds``) and buckets.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from prometheus_client import Counter, Histogram

LABELS: Final = ("app_name", "method", "path", "status_code")
# A client may send any token as a method: the rest count as one, so no client makes series.
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD: Final = "OTHER"


LONG_POLL_LABELS: Final = ("app_name", "status_code")
# Seconds. 50 µs to 5 s: the hot paths' 0.05-0.4 ms land in distinct buckets, a slow database
# or Redis round trip in the milliseconds, a timeout in the seconds.
DURATION_BUCKETS: Final = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
# A long-poll answers at once when changes wait, or when its wait (at most 25 s) runs out.
LONG_POLL_BUCKETS: Final = (0.005, 0.05, 0.25, 1.0, 5.0, 10.0, 20.0, 24.0, 26.0, 30.0, 60.0)


@cache
def _series() -> tuple[Counter, Histogram, Histogram]:
    # Metrics are process-wide (and summed across server workers in multiprocess mode): made
    # once per process, whichever roles' apps that process builds.
    return (
        Counter("phoenix_requests_total", "HTTP requests answered", LABELS),
        Histogram(
            "phoenix_request_duration_seconds",
            "HTTP request duration, long-polls excluded",
            LABELS,
            buckets=DURATION_BUCKETS,
        ),
        Histogram(
            "phoenix_long_poll_duration_seconds",
            "Long-poll duration (up to its wait)",
            LONG_POLL_LABELS,
            buckets=LONG_POLL_BUCKETS,
        ),
    )


class RequestMetrics:
    def __init__(
        self,
        app_name: str,
        excluded: frozenset[str] = frozenset({"/metrics"}),
        long_polls: frozenset[str] = frozenset(),
    ) -> None:
        self._app_name = app_name
        self._excluded = excluded
        self._long_polls = long_polls
        self._count, self._duration, self._long_poll = _series()
        # A series' children by (method, route, status): labels() validates and locks on each
        # call. Bounded: routes are templates, and methods and statuses few.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        if route in self._excluded:
            return
        if method not in METHODS:
            method = OTHER_METHOD
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            labels = (self._app_name, method, route, str(status))
            duration = (
                self._long_poll.labels(self._app_name, str(status))
                if route in self._long_polls
                else self._duration.labels(*labels)
            )
            children = (self._count.labels(*labels), duration)
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
