"""Under CI=true a skip fails the run; locally it stays a skip; a marked skip is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

TESTS = """
import pytest

def test_needs_a_missing_server():
    pytest.skip("no such server")

@pytest.mark.skip_allowed_in_ci("this kind of machine has no such kernel module")
def test_needs_a_kernel_module():
    pytest.skip("no module")
"""


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str) -> pytest.RunResult:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeini("[pytest]\nmarkers =\n    skip_allowed_in_ci(reason): allowed\n")
    pytester.makepyfile(TESTS)
    return pytester.runpytest_subprocess("-p", "tests.harness.ci_skips")


def test_a_skip_fails_under_ci(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run(pytester, monkeypatch, "true")
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*skipped under CI=true*no such server*"])


def test_a_skip_stays_a_skip_locally(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(pytester, monkeypatch, "").assert_outcomes(skipped=2)
