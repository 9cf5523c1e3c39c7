"""The one process launcher of `phoenix dev` and the test harness: start a command with its
environment, directory and log; wait, by the clock, until a readiness check holds; stop it with
SIGTERM, then SIGKILL after a grace period; always reap it."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

Ready = Callable[[], bool]


class ProcessExited(RuntimeError):
    """The process ended while it was being waited for."""


class NotReady(TimeoutError):
    """The readiness check did not hold before the deadline."""


def _load_prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl() if sys.platform == "linux" else None  # loaded here, not after fork
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """SIGTERM the child if the thread that started it dies (a killed test run or `make dev`)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Process:
    """A started command. ``own_group`` processes lead a process group of their own, and every
    signal goes to the whole group: tools that fork helpers (node, rabbitmq's script) leave
    none behind."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log: Path | None = None,
        append: bool = False,
        own_group: bool = False,
        die_with_parent: bool = False,
        discard_stdout: bool = False,
    ) -> None:
        """``log`` takes stdout and stderr (None: this process's own); ``append`` keeps what a
        previous run wrote there; ``discard_stdout`` keeps only stderr (a benchmark's server
        writes an access line per request, which would cost it disk writes under load)."""
        self.name = Path(command[0]).name
        self.log = log
        self.own_group = own_group
        self._terminated = False
        output = log.open("ab" if append else "wb") if log is not None else None
        try:
            self.popen: subprocess.Popen[bytes] = subprocess.Popen(
                list(command),
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if discard_stdout else output,
                stderr=subprocess.STDOUT if output is not None and not discard_stdout else output,
                start_new_session=own_group,
                preexec_fn=_die_with_parent if die_with_parent and _PRCTL is not None else None,
            )
        finally:
            if output is not None:
                output.close()  # the child holds its own copy

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def wait_ready(
        self, ready: Ready, timeout: float, what: str = "", interval: float = 0.1
    ) -> None:
        """Return once ``ready()`` holds. If the process exits first, or the deadline passes, it
        is stopped (so that it holds no port) and ProcessExited or NotReady says so, with the
        end of its log."""
        try:
            wait_until(ready, timeout, what or self.name, process=self, interval=interval)
        except (ProcessExited, NotReady) as error:
            self.stop(grace=5)
            raise type(error)(f"{error}{self._log_tail()}") from None

    def terminate(self) -> None:
        """SIGTERM (once: a second one makes some tools, firebase-tools among them, skip their
        clean shutdown)."""
        if self.running and not self._terminated:
            self._terminated = True
            self._signal(signal.SIGTERM)

    def stop(self, grace: float = 10.0) -> int:
        """SIGTERM, SIGKILL after ``grace`` seconds; reaped either way. The exit code."""
        self.terminate()
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.popen.wait()
        if self.own_group:
            self._signal(signal.SIGKILL)  # children that outlived the group's leader
        return self.popen.returncode

    def logs(self, tail: int | None = None) -> str:
        if self.log is None or not self.log.exists():
            return ""
        text = self.log.read_text(errors="replace")
        return text if tail is None else text[-tail:]

    def _log_tail(self) -> str:
        text = self.logs(tail=3000)
        return f" (log {self.log}):\n{text}" if text else ""

    def _signal(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.own_group:
                os.killpg(self.popen.pid, signum)
            else:
                self.popen.send_signal(signum)


def wait_until(
    ready: Ready,
    timeout: float,
    what: str,
    *,
    process: Process | None = None,
    interval: float = 0.1,
) -> None:
    """Poll ``ready()`` until it holds, for ``timeout`` seconds of the clock (not a count of
    tries: a slow check must not stretch the deadline). ``process`` ending first is an error."""
    deadline = time.monotonic() + timeout
    while True:
        # Its exit first: what answers may be another process on the same port.
        if process is not None and not process.running:
            raise ProcessExited(f"{what} exited with {process.returncode} while starting")
        if ready():
            return
        if time.monotonic() > deadline:
            raise NotReady(f"{what} was not ready within {timeout:g} s")
        time.sleep(interval)
