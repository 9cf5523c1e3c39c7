"""Under CI=true a skipped test is a failed test, unless it says why the part cannot exist there.

Locally a missing server (or root, or a kernel module) skips; in CI that would hide a broken
install step, so the skip is reported as a failure. The one escape is the marker
``skip_allowed_in_ci("reason")`` for parts this kind of machine can never have.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and item.get_closest_marker("skip_allowed_in_ci") is None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which must not happen: {reason}"
