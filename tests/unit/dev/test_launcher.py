"""The one launcher: ready by a check within a deadline of the clock; stopped with SIGTERM, then
SIGKILL after the grace period; never a process left running or unreaped."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from phoenix.dev.launcher import NotReady, Process, ProcessExited, wait_until


def python(code: str, log: Path, **options: bool) -> Process:
    return Process([sys.executable, "-c", code], log=log, **options)


def test_a_process_is_ready_when_its_log_says_so(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    process = python("import time; print('ready', flush=True); time.sleep(60)", log)
    try:
        process.wait_ready(lambda: b"ready" in log.read_bytes(), timeout=10)
        assert process.running
    finally:
        assert process.stop(grace=5) == -signal.SIGTERM
    assert not process.running


def test_one_that_exits_while_starting_says_so_with_its_log(tmp_path: Path) -> None:
    process = python("print('no database'); raise SystemExit(3)", tmp_path / "out.log")
    with pytest.raises(ProcessExited, match=r"(?s)exited with 3 while starting.*no database"):
        process.wait_ready(lambda: False, timeout=10, what="the role")


def test_one_never_ready_is_stopped_at_the_deadline(tmp_path: Path) -> None:
    process = python("import time; time.sleep(60)", tmp_path / "out.log")
    started = time.monotonic()
    with pytest.raises(NotReady, match=r"the role was not ready within 0\.5 s"):
        process.wait_ready(lambda: False, timeout=0.5, what="the role")
    assert time.monotonic() - started < 5
    assert not process.running  # it holds no port on


def test_the_deadline_is_time_not_a_count_of_tries() -> None:
    calls = []

    def slow() -> bool:
        calls.append(1)
        time.sleep(0.2)
        return False

    started = time.monotonic()
    with pytest.raises(NotReady):
        wait_until(slow, 0.5, "slow", interval=0)
    # Roomy: a busy machine may stretch each try; the count of tries is what shows the point.
    assert time.monotonic() - started < 5
    assert len(calls) <= 5


def test_one_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "print('ignoring', flush=True); time.sleep(60)"
    )
    process = python(code, log)
    process.wait_ready(lambda: b"ignoring" in log.read_bytes(), timeout=10)
    started = time.monotonic()
    assert process.stop(grace=0.5) == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - started < 5


def test_a_group_stops_with_its_children(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    code = (
        "import subprocess, sys, time;"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "print(child.pid, flush=True); time.sleep(60)"
    )
    process = python(code, log, own_group=True)
    process.wait_ready(lambda: log.read_text().strip().isdigit(), timeout=10)
    child = int(log.read_text())
    assert os.getpgid(child) == process.pid
    process.stop(grace=5)
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
