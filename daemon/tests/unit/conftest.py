"""Fixtures of the daemon's unit tests."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

SHM = Path("/dev/shm")


@pytest.fixture
def ram_dir() -> Iterator[Path]:
    """A directory on the machine's tmpfs (/dev/shm), removed afterwards."""
    if not SHM.is_dir():
        pytest.skip("/dev/shm (tmpfs) is not mounted")
    directory = SHM / f"phoenix-node-test-{uuid.uuid4().hex[:8]}"
    yield directory
    shutil.rmtree(directory, ignore_errors=True)
