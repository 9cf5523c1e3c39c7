"""pytest fixture for the Firebase Auth emulator: one emulator per test session.

Register in tests/conftest.py: ``pytest_plugins = [..., "tests.harness.firebase_fixtures"]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.firebase import FirebaseAuthEmulator


@pytest.fixture(scope="session")
def firebase_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirebaseAuthEmulator]:
    """The real Auth emulator (project ``demo-phoenix``) on a spare port, with REST helpers.

    Skips locally (fails under CI=true) when ``npm ci`` has not installed firebase-tools. It does
    not set ``FIREBASE_AUTH_EMULATOR_HOST`` in this process: take ``firebase_emulator.env`` for a
    subprocess, or ``monkeypatch.setenv`` it where firebase-admin runs in the test process.
    """
    from tests.conftest import require  # here, not at import time: conftest imports this plugin

    require("Firebase Auth emulator", FirebaseAuthEmulator.available(), "run make test (npm ci)")
    emulator = FirebaseAuthEmulator(log_dir=tmp_path_factory.mktemp("firebase-auth-emulator"))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
