"""A third-party Privacy Pass client finds our issuer from the origin's challenge alone.

The client is tests/interop/privacypass_client.mjs on Cloudflare's @cloudflare/privacypass-ts
(npm), none of this repository's code: given only the config role's WWW-Authenticate value and a
Firebase ID token, it reads issuer_name out of the TokenChallenge, fetches
http://<issuer_name>/.well-known/private-token-issuer-directory, blinds a token request with the
library, has the issuer sign it and finalizes the token. The roles are real `phoenix serve`
processes on databases and a Redis of this module's own, with the Firebase Auth emulator and a
subscriber who paid through the Stripe stub (tests.harness.system).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from phoenix.app import DEFAULT_PORTS
from phoenix.config.settings import ConfigSettings
from phoenix.crypto.privacypass.headers import parse_www_authenticate
from phoenix.crypto.privacypass.structures import TokenChallenge
from phoenix.dev.environment import environment
from phoenix.dev.probes import port_free
from phoenix.settings import load
from tests.conftest import DatabaseTemplates, require
from tests.harness import stripe as stripe_harness
from tests.harness.firebase import FirebaseAuthEmulator
from tests.harness.processes import REPO, RoleServer
from tests.harness.system import PhoenixSystem
from tests.integration.config.conftest import wg_key

pytestmark = pytest.mark.slow

CLIENT = REPO / "tests" / "interop" / "privacypass_client.mjs"
LIBRARY = REPO / "node_modules" / "@cloudflare" / "privacypass-ts" / "package.json"
LOCATION = "de-fra"
# The issuer_name development served before issue #20: `.invalid` never resolves (RFC 6761).
UNREACHABLE_ISSUER_NAME = "auth.phoenix.invalid"


def auth_address(system: PhoenixSystem) -> str:
    """The auth role's host:port: the issuer_name a client can follow to its directory."""
    return urlsplit(system.base_url("auth")).netloc


class InteropSystem(PhoenixSystem):
    """The whole system, its config role naming the auth role's reachable address as
    issuer_name (tests.harness.system's own name, auth.phoenix.test, resolves nowhere)."""

    def _role(self, role: str, env: dict[str, str]) -> RoleServer:
        if role == "config":
            env = {**env, "PHOENIX_ISSUER_NAME": auth_address(self)}
        return super()._role(role, env)


@dataclass(frozen=True)
class World:
    system: PhoenixSystem
    id_token: str  # a subscriber's Firebase ID token
    directory: Path  # for the logs of roles a test starts itself


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    database_templates: DatabaseTemplates,
    firebase_emulator: FirebaseAuthEmulator,
) -> Iterator[World]:
    require("node", shutil.which("node") is not None, "Node.js >= 20 on PATH")
    require("@cloudflare/privacypass-ts", LIBRARY.exists(), "run make deps (npm ci)")
    directory = tmp_path_factory.mktemp("interop")
    stub = stripe_harness.StripeStub().start()
    system = InteropSystem(directory, database_templates, firebase_emulator, stub)
    try:
        system.start()
        system.register_node(LOCATION)
        user = firebase_emulator.sign_up()
        system.sign_in(user.id_token)
        system.subscribe(user.uid)
        yield World(system, user.id_token, directory)
    finally:
        system.stop()
        stub.stop()


@contextlib.contextmanager
def role(
    world: World, name: str, log: str, changes: Mapping[str, str], port: int | None = None
) -> Iterator[RoleServer]:
    """Another process of role `name`: the system's environment for it, with `changes`."""
    # Its own ops port (RoleServer picks one): not the one of the system's process it copies.
    env = {**world.system.servers[name].env, **changes}
    env.pop("PHOENIX_OPS_PORT", None)
    server = RoleServer(name, env, world.directory / log)
    if port is not None:
        server.port = port
    server.start()
    try:
        yield server
    finally:
        server.stop()


def challenge_header(config_url: str) -> str:
    """The WWW-Authenticate value of a 401 on the connect endpoint (no token sent)."""
    answer = httpx.post(
        config_url + "/v1/connect",
        json={"location": LOCATION, "public_key": wg_key()},
        timeout=10,
    )
    assert answer.status_code == 401, answer.text
    header: str = answer.headers["www-authenticate"]
    return header


def issuer_name_in(header: str) -> str:
    [challenge] = parse_www_authenticate(header)
    return TokenChallenge.decode(challenge.challenge).issuer_name


def third_party_client(header: str, id_token: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(CLIENT), header],
        env={**os.environ, "FIREBASE_ID_TOKEN": id_token},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )


def token_from(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    [token] = done.stdout.splitlines()
    return token


def redeem(config_url: str, token: str) -> httpx.Response:
    return httpx.post(
        config_url + "/v1/connect",
        json={"location": LOCATION, "public_key": wg_key()},
        headers={"authorization": f'PrivateToken token="{token}"'},
        timeout=30,
    )


def assert_wireguard_config(answer: httpx.Response) -> None:
    assert answer.status_code == 200, answer.text
    config: dict[str, Any] = answer.json()
    assert config["interface"]["addresses"]
    assert config["peer"]["public_key"]
    assert config["peer"]["allowed_ips"] == ["0.0.0.0/0", "::/0"]


def assert_spent(answer: httpx.Response) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.json()["type"].endswith("/token-spent")


def test_a_third_party_client_follows_the_challenge_to_the_issuer_and_its_token_redeems_once(
    world: World,
) -> None:
    config_url = world.system.base_url("config")
    header = challenge_header(config_url)

    token = token_from(third_party_client(header, world.id_token))

    assert issuer_name_in(header) == auth_address(world.system)  # what it followed
    assert_wireguard_config(redeem(config_url, token))
    assert_spent(redeem(config_url, token))


def test_a_challenge_naming_a_dot_invalid_issuer_leaves_the_client_nowhere_to_go(
    world: World,
) -> None:
    changes = {"PHOENIX_ISSUER_NAME": UNREACHABLE_ISSUER_NAME}
    with role(world, "config", "config-invalid-issuer.log", changes) as config:
        header = challenge_header(config.base_url)
    assert issuer_name_in(header) == UNREACHABLE_ISSUER_NAME

    done = third_party_client(header, world.id_token)

    assert done.returncode == 1, done.stdout
    assert done.stdout == ""
    directory_url = f"http://{UNREACHABLE_ISSUER_NAME}/.well-known/private-token-issuer-directory"
    reason = done.stderr.removeprefix(f"privacypass_client: cannot reach {directory_url}: ")
    assert reason != done.stderr, done.stderr
    assert "ENOTFOUND" in reason or "EAI_AGAIN" in reason, reason  # the name resolves nowhere
    assert done.stderr.count("\n") == 1


def test_the_development_challenge_names_where_make_dev_serves_the_issuer_directory(
    world: World,
) -> None:
    """Config with the names `make dev` gives it, auth on its development port: the client
    that follows the challenge gets a token there, and config redeems it."""
    dev = load(ConfigSettings, environment({}))
    auth_port = DEFAULT_PORTS["auth"]
    require(f"development port {auth_port}", port_free(auth_port), "another `make dev` runs")
    names = {
        "PHOENIX_ISSUER_NAME": dev.issuer_name,
        "PHOENIX_ORIGIN_NAME": dev.origin_name,
        "PHOENIX_ISSUER_DIRECTORY_URL": dev.issuer_directory_url,
    }
    with (
        role(world, "auth", "auth-dev-port.log", {}, port=auth_port),
        role(world, "config", "config-dev-names.log", names) as config,
    ):
        header = challenge_header(config.base_url)

        token = token_from(third_party_client(header, world.id_token))

        assert issuer_name_in(header) == dev.issuer_name
        assert urlsplit(f"//{dev.issuer_name}").port == auth_port  # a host:port, not a name
        assert_wireguard_config(redeem(config.base_url, token))
        assert_spent(redeem(config.base_url, token))
