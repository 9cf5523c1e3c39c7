"""Skipping a test whose part (root, a tool, a kernel feature) this machine does not have."""

from __future__ import annotations

import pytest


def require(part: str, present: bool, how: str) -> None:
    """Skip when ``part`` is missing; under CI=true, `make test` reports the skip as a failure
    (tests/harness/ci_skips) unless the test is marked ``skip_allowed_in_ci``."""
    if not present:
        pytest.skip(f"{part} is not available ({how})")
