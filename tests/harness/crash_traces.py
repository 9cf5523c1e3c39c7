"""Keep a crash of the test process visible: faulthandler's Python stacks on a fatal signal.

chDB, which the analytics tests load into the pytest process (the embedded store), installs
handlers of its own for SIGABRT and SIGSEGV over the ones pytest's faulthandler plugin set, so a
crash later in the run ended it without a trace (twice, in CI: "make: *** Aborted"). After
every test whose handler for SIGABRT is no longer faulthandler's, faulthandler is enabled again
on the stderr pytest keeps for it; on a crash it prints every thread's stack, then lets the
signal take its default course.
"""

from __future__ import annotations

import ctypes
import faulthandler
import signal

import pytest
from _pytest.faulthandler import fault_handler_stderr_fd_key

_libc = ctypes.CDLL(None, use_errno=True)


class _SigAction(ctypes.Structure):
    # struct sigaction on Linux x86-64/arm64 (glibc): handler, mask (1024 bits), flags, restorer
    _fields_ = (
        ("handler", ctypes.c_void_p),
        ("mask", ctypes.c_ulong * 16),
        ("flags", ctypes.c_int),
        ("restorer", ctypes.c_void_p),
    )


def abort_handler() -> int | None:
    """The address of the C handler now installed for SIGABRT (None: the default)."""
    action = _SigAction()
    if _libc.sigaction(signal.SIGABRT, None, ctypes.byref(action)) != 0:
        return None
    return action.handler  # type: ignore[no-any-return]


_faulthandlers: set[int | None] = set()


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    if faulthandler.is_enabled():
        _faulthandlers.add(abort_handler())


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if not _faulthandlers or abort_handler() in _faulthandlers:
        return
    descriptor = item.config.stash.get(fault_handler_stderr_fd_key, None)
    if descriptor is None:
        return
    faulthandler.disable()
    faulthandler.enable(file=descriptor, all_threads=True)
    _faulthandlers.add(abort_handler())
