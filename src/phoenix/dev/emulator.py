"""The Firebase Auth emulator (npm ``firebase-tools``): the one starter of `phoenix dev up` and the
tests.

It runs ``firebase emulators:start --only auth`` from ``node_modules`` in a process group of its
own, with a throwaway HOME, TMPDIR and ``firebase.json`` so that it never prompts, never writes to
the user's configuration and can run on a spare port next to another emulator (its hub and
logging emulator get spare ports too). On Linux it dies with the thread that started it, so a
killed run leaves no emulator behind: start it from a long-lived thread (the main one).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from phoenix.dev.launcher import NotReady, Process, ProcessExited
from phoenix.dev.paths import REPO
from phoenix.dev.probes import free_port, port_open

FIREBASE_BIN: Final = REPO / "node_modules" / ".bin" / "firebase"
DEFAULT_PROJECT: Final = "demo-phoenix"
EMULATOR_PORT: Final = 9099  # the development port (`phoenix dev up`, firebase.json)
# What firebase-tools prints once it serves. Its own words, not the port alone: the port may
# still answer for another emulator that is shutting down.
READY: Final = b"All emulators ready"


class AuthEmulator:
    """One Auth emulator process; ``host`` is what ``FIREBASE_AUTH_EMULATOR_HOST`` wants.

    ``port=None`` takes a spare port. A start that fails is tried again: a spare port can be
    taken between pick and bind, and an emulator on a fixed port was once seen (in CI, right after
    another run's emulator stopped) to stall after its first lines.
    """

    def __init__(
        self,
        project_id: str = DEFAULT_PROJECT,
        port: int | None = None,
        log_dir: Path | None = None,
        startup_timeout: float = 90.0,
    ) -> None:
        self.project_id = project_id
        self._fixed_port = port
        self.port = port or 0
        self.log_dir = log_dir
        self.startup_timeout = startup_timeout
        self.startup_seconds: float | None = None
        self.process: Process | None = None
        self.log: Path | None = None
        self._workdir: Path | None = None

    @staticmethod
    def available() -> bool:
        """``node_modules/.bin/firebase`` is installed (``npm ci``) and node is on PATH."""
        return FIREBASE_BIN.exists() and shutil.which("node") is not None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for a process (or firebase-admin) that should use this emulator."""
        return {"FIREBASE_AUTH_EMULATOR_HOST": self.host, "GOOGLE_CLOUD_PROJECT": self.project_id}

    def start(self) -> Self:
        if self.process is not None:
            return self
        if not self.available():
            raise FileNotFoundError(f"{FIREBASE_BIN} is missing: run `npm ci` in {REPO}")
        started = time.monotonic()
        attempts = 2 if self._fixed_port else 3
        for attempt in range(1, attempts + 1):
            try:
                self._start_once()
            except (ProcessExited, NotReady):
                self._stop_process()
                if attempt == attempts:
                    raise
            except BaseException:
                self._stop_process()
                raise
            else:
                break
        self.startup_seconds = time.monotonic() - started
        return self

    def _start_once(self) -> None:
        self.port = self._fixed_port or free_port()
        self._workdir = Path(tempfile.mkdtemp(prefix="phoenix-firebase-"))
        home, tmp = self._workdir / "home", self._workdir / "tmp"
        for directory in (home, tmp):
            directory.mkdir()
        config = {
            "emulators": {
                "singleProjectMode": True,
                "auth": {"host": "127.0.0.1", "port": self.port},
                # Own ports for the hub and the logging emulator, so that two emulators (or a
                # developer's own on 4400/4500) do not meet.
                "hub": {"host": "127.0.0.1", "port": free_port()},
                "logging": {"host": "127.0.0.1", "port": free_port()},
                "ui": {"enabled": False},
            }
        }
        (self._workdir / "firebase.json").write_text(json.dumps(config, indent=2))
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(home),  # configstore (~/.config/configstore) lands here, not in the user's
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "TMPDIR": str(tmp),  # the hub's locator file (hub-<project>.json) lands here
            "CI": "true",  # firebase-tools: no MOTD fetch; update-notifier: off
            "NO_UPDATE_NOTIFIER": "1",  # no npm registry version check, even without CI
        }
        log_dir = self.log_dir or self._workdir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = log = log_dir / f"firebase-auth-emulator-{self.port}.log"
        command = [str(FIREBASE_BIN), "emulators:start", "--only", "auth"]
        self.process = Process(
            [*command, "--project", self.project_id, "--non-interactive"],
            env=env,
            cwd=self._workdir,
            log=log,
            own_group=True,  # node and its children stop together
            die_with_parent=True,
        )
        self.process.wait_ready(
            lambda: READY in log.read_bytes() and port_open(self.port),
            self.startup_timeout,
            "the Firebase Auth emulator",
        )

    def stop(self) -> None:
        self._stop_process()

    def _stop_process(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            # SIGTERM lets firebase shut its emulators down cleanly (about 1 s).
            process.stop(grace=15)
        if self._workdir is not None:
            if self.log_dir is None:
                self.log = None  # it is inside the workdir, which goes now
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def logs(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
