"""The real Firebase Auth emulator (npm ``firebase-tools``), started and stopped by the tests.

``FirebaseAuthEmulator`` runs ``firebase emulators:start --only auth --project demo-phoenix`` from
``node_modules`` in its own session (process group), with a throwaway HOME, TMPDIR and
``firebase.json`` so that it never prompts, never writes to the user's configuration and can run on
a spare port next to another emulator. Its REST helpers speak the emulator's Identity Toolkit API:
``accounts:signUp`` / ``accounts:signInWithPassword`` with any API key, as a browser would, and the
admin operations (disable, revoke, delete) with ``Authorization: Bearer owner``, which the emulator
accepts in place of Google credentials.

Know this when testing against it: the emulator's ID tokens are unsigned (``alg: none``), and
firebase-admin skips the signature and expiry checks whenever ``FIREBASE_AUTH_EMULATOR_HOST`` is
set. Only ``aud``/``iss``/``sub`` and, with ``check_revoked=True``, the user record (exists, not
disabled, ``iat`` not before ``tokensValidAfterTime``) are checked against the emulator.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.harness.processes import REPO, free_port

FIREBASE_BIN = REPO / "node_modules" / ".bin" / "firebase"
DEFAULT_PROJECT = "demo-phoenix"
API_KEY = "fake-api-key"  # the emulator accepts any key
ADMIN_HEADERS = {"Authorization": "Bearer owner"}  # the emulator's stand-in for an admin token
IDENTITY_TOOLKIT = "/identitytoolkit.googleapis.com/v1"
SECURE_TOKEN = "/securetoken.googleapis.com/v1"


class EmulatorError(RuntimeError):
    """The emulator refused a request; ``message`` is its error code, e.g. ``USER_DISABLED``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class EmulatorUser:
    uid: str
    email: str
    password: str
    id_token: str
    refresh_token: str


def token_claims(id_token: str) -> dict[str, Any]:
    """The payload of a JWT, not verified (for reading ``iat``, ``exp``, ``auth_time``)."""
    payload = id_token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def forge_token(id_token: str, **changes: Any) -> str:
    """The same token with payload claims changed (signature part kept as it was)."""
    header, _, signature = id_token.split(".")
    claims = {**token_claims(id_token), **changes}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def _load_prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl() if sys.platform == "linux" else None  # loaded here, not after fork
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """SIGTERM the emulator if the thread that started it dies (a killed pytest run)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _error_message(response: httpx.Response) -> str:
    """``{"error": {"message": "USER_DISABLED", ...}}`` -> ``USER_DISABLED``."""
    try:
        error = response.json().get("error", {})
    except ValueError:
        return response.text
    message = error.get("message", response.text) if isinstance(error, dict) else error
    return str(message)


class FirebaseAuthEmulator:
    """One Auth emulator process; ``host`` is what ``FIREBASE_AUTH_EMULATOR_HOST`` wants.

    ``port=None`` takes a spare port (and retries with another if it is taken meanwhile). Start it
    from a long-lived thread (the main one): on Linux the emulator is told to die with the thread
    that started it, so that a killed test run leaves no emulator behind.
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
        self.process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._log_path: Path | None = None
        self._client: httpx.Client | None = None

    # ---------------------------------------------------------------- process

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

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.base_url, timeout=10, trust_env=False)
        return self._client

    def start(self) -> FirebaseAuthEmulator:
        if self.process is not None:
            return self
        if not self.available():
            raise FileNotFoundError(f"{FIREBASE_BIN} is missing: run `npm ci` in {REPO}")
        started = time.monotonic()
        attempts = 1 if self._fixed_port else 3  # a spare port can be taken between pick and bind
        for attempt in range(1, attempts + 1):
            try:
                self._start_once()
            except RuntimeError:
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
        home = self._workdir / "home"
        tmp = self._workdir / "tmp"
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
        self._log_path = log_dir / f"firebase-auth-emulator-{self.port}.log"
        with self._log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(FIREBASE_BIN),
                    "emulators:start",
                    "--only",
                    "auth",
                    "--project",
                    self.project_id,
                    "--non-interactive",
                ],
                cwd=self._workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() kills node and children
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Firebase Auth emulator exited {self.process.returncode}:\n{self.logs()}"
                )
            try:
                response = httpx.get(self.base_url + "/", timeout=1, trust_env=False)
                if response.status_code == 200 and response.json()["authEmulator"]["ready"]:
                    return
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"Firebase Auth emulator not ready after {self.startup_timeout}s:\n{self.logs()}"
        )

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._stop_process()

    def _stop_process(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            # SIGTERM lets firebase shut its emulators down cleanly (about 1 s); a second
            # signal, or SIGKILL after the grace period, ends whatever is left of the group.
            self._signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                self._signal_group(process.pid, signal.SIGKILL)
                process.wait(5)
            self._signal_group(process.pid, signal.SIGKILL)  # children that outlived node
        if self._workdir is not None:
            if self.log_dir is None and self._log_path is not None:
                self._log_path = None  # the log is inside the workdir, which goes now
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    def logs(self) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")

    def __enter__(self) -> FirebaseAuthEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------- REST

    def _post(self, path: str, body: dict[str, Any], *, admin: bool = False) -> dict[str, Any]:
        response = self.client.post(
            path,
            params=None if admin else {"key": API_KEY},
            json=body,
            headers=ADMIN_HEADERS if admin else None,
        )
        if response.status_code != 200:
            raise EmulatorError(response.status_code, _error_message(response))
        data: dict[str, Any] = response.json()
        return data

    def _admin(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        path = f"{IDENTITY_TOOLKIT}/projects/{self.project_id}/accounts:{operation}"
        return self._post(path, body, admin=True)

    @staticmethod
    def unique_email() -> str:
        return f"user-{uuid.uuid4().hex}@example.com"

    def sign_up(self, email: str | None = None, password: str | None = None) -> EmulatorUser:
        """A new email+password user, signed in, as the client SDK would create it."""
        email = email or self.unique_email()
        password = password or secrets.token_urlsafe(12)
        data = self._post(
            f"{IDENTITY_TOOLKIT}/accounts:signUp",
            {"email": email, "password": password, "returnSecureToken": True},
        )
        return EmulatorUser(data["localId"], email, password, data["idToken"], data["refreshToken"])

    def sign_in(self, email: str, password: str) -> EmulatorUser:
        data = self._post(
            f"{IDENTITY_TOOLKIT}/accounts:signInWithPassword",
            {"email": email, "password": password, "returnSecureToken": True},
        )
        return EmulatorUser(data["localId"], email, password, data["idToken"], data["refreshToken"])

    def refresh(self, refresh_token: str) -> tuple[str, str]:
        """A fresh (ID token, refresh token) pair. Unlike production, the emulator does not
        refuse a refresh token issued before a revocation; it does refuse a disabled user."""
        response = self.client.post(
            f"{SECURE_TOKEN}/token",
            params={"key": API_KEY},
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        )
        if response.status_code != 200:
            raise EmulatorError(response.status_code, _error_message(response))
        data = response.json()
        return data["id_token"], data["refresh_token"]

    def get_user(self, uid: str) -> dict[str, Any]:
        """The emulator's user record (``disabled``, ``validSince``, ...)."""
        users = self._admin("lookup", {"localId": [uid]}).get("users", [])
        if not users:
            raise EmulatorError(400, "USER_NOT_FOUND")
        user: dict[str, Any] = users[0]
        return user

    def disable_user(self, uid: str, disabled: bool = True) -> None:
        self._admin("update", {"localId": uid, "disableUser": disabled})

    def revoke_refresh_tokens(self, uid: str, valid_since: int | None = None) -> int:
        """Set the user's ``tokensValidAfterTime`` (seconds), as firebase-admin's
        ``revoke_refresh_tokens`` does; returns it. ``verify_id_token(check_revoked=True)`` then
        refuses tokens with ``iat`` *strictly before* it, so a token issued in the same second
        still passes: wait until ``int(time.time()) > iat`` before revoking."""
        valid_since = int(time.time()) if valid_since is None else valid_since
        self._admin("update", {"localId": uid, "validSince": str(valid_since)})
        return valid_since

    def delete_user(self, uid: str) -> None:
        self._admin("delete", {"localId": uid})

    def clear_users(self) -> None:
        """Delete every user of the project (the emulator's own endpoint)."""
        response = self.client.delete(
            f"/emulator/v1/projects/{self.project_id}/accounts", headers=ADMIN_HEADERS
        )
        response.raise_for_status()
