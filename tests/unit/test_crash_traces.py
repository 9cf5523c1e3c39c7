"""A crash after chDB was loaded into the test process still prints the Python stacks."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

TESTS = """
import os
import tempfile

import chdb


def test_loads_chdb():
    chdb.connect(tempfile.mkdtemp()).query("SELECT 1")


def test_then_crashes():
    os.abort()
"""


def test_the_stacks_are_printed_though_chdb_replaced_the_handlers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the plugin the same run prints no stack: chDB's handler takes the abort and the
    # process hangs in it (seen once; the 120 s it takes keeps that case out of the suite).
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_subprocess("-p", "tests.harness.crash_traces", timeout=120)
    assert result.ret != 0
    output = result.stdout.str() + result.stderr.str()
    assert "Fatal Python error: Aborted" in output
    assert "test_then_crashes" in output
