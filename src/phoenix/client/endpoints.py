"""Where the servers are, and one way to call them that turns every failure into a ClientError.

Defaults point at `make dev` on this machine; each is overridden by a `PHOENIX_CLIENT_…`
variable or a command-line option.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from phoenix.client.errors import from_problem, unreachable

# The Ed25519 public key of `make dev`'s blocklist signing seed (never a production key).
DEV_BLOCKLIST_KEY: Final = "CDO5JuWEx8TV73rQi0MzTHELVlBx/xyrFh93Wnl9bHU="

DEFAULTS: Final = {
    "PHOENIX_CLIENT_AUTH_URL": "http://127.0.0.1:8081",
    "PHOENIX_CLIENT_CONFIG_URL": "http://127.0.0.1:8082",
    "PHOENIX_CLIENT_BLOCKLIST_URL": "http://127.0.0.1:8084/blocklist",
    "PHOENIX_CLIENT_BLOCKLIST_KEY": DEV_BLOCKLIST_KEY,
    # host:port of the Firebase Auth emulator; empty means Firebase itself.
    "PHOENIX_CLIENT_FIREBASE_EMULATOR": "127.0.0.1:9099",
    "PHOENIX_CLIENT_FIREBASE_API_KEY": "fake-api-key",
    "PHOENIX_CLIENT_HOME": str(Path.home() / ".config" / "phoenix-client"),
}
TIMEOUT: Final = 30.0


@dataclass(frozen=True)
class Endpoints:
    auth: str
    config: str
    blocklist: str
    blocklist_key: str
    firebase_emulator: str
    firebase_api_key: str
    home: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: str | None) -> Endpoints:
        def get(name: str) -> str:
            given = overrides.get(name.removeprefix("PHOENIX_CLIENT_").lower())
            return given if given is not None else env.get(name, DEFAULTS[name])

        return cls(
            auth=get("PHOENIX_CLIENT_AUTH_URL").rstrip("/"),
            config=get("PHOENIX_CLIENT_CONFIG_URL").rstrip("/"),
            blocklist=get("PHOENIX_CLIENT_BLOCKLIST_URL").rstrip("/"),
            blocklist_key=get("PHOENIX_CLIENT_BLOCKLIST_KEY"),
            firebase_emulator=get("PHOENIX_CLIENT_FIREBASE_EMULATOR"),
            firebase_api_key=get("PHOENIX_CLIENT_FIREBASE_API_KEY"),
            home=Path(get("PHOENIX_CLIENT_HOME")),
        )

    @classmethod
    def default(cls) -> Endpoints:
        return cls.from_env(os.environ)

    @property
    def identity_toolkit(self) -> str:
        if self.firebase_emulator:
            return f"http://{self.firebase_emulator}/identitytoolkit.googleapis.com/v1"
        return "https://identitytoolkit.googleapis.com/v1"

    @property
    def secure_token(self) -> str:
        if self.firebase_emulator:
            return f"http://{self.firebase_emulator}/securetoken.googleapis.com/v1"
        return "https://securetoken.googleapis.com/v1"


def call(http: httpx.Client, what: str, method: str, url: str, **options: Any) -> httpx.Response:
    """The answer when it is a success; otherwise a ClientError naming `what` went wrong."""
    try:
        response = http.request(method, url, **options)
    except httpx.HTTPError as error:
        raise unreachable(what, url.split("?", 1)[0], error) from None
    if response.is_success:
        return response
    raise from_problem(what, response)


def client() -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False)
