"""`phoenix-client` against the real roles: auth on Postgres with the Firebase Auth emulator and a
signed Stripe checkout, config on Postgres and Redis, the worker publishing a signed blocklist.
Every command is the installed entry point's module run as a process, as a user would run it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from phoenix.crypto.wireguard import encode_key, parse_key, public_key
from tests.conftest import DatabaseTemplates
from tests.harness.firebase import FirebaseAuthEmulator
from tests.harness.system import BLOCKED, PhoenixSystem, running_system

pytestmark = pytest.mark.slow
PASSWORD = "correct horse\n"


@pytest.fixture(scope="module")
def system(
    tmp_path_factory: pytest.TempPathFactory,
    database_templates: DatabaseTemplates,
    firebase_emulator: FirebaseAuthEmulator,
) -> Iterator[PhoenixSystem]:
    directory = tmp_path_factory.mktemp("system")
    with running_system(directory, database_templates, firebase_emulator) as made:
        made.register_node("de-fra")
        yield made


def ok(done: Any) -> str:
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out: str = done.stdout
    return out


def refused(done: Any, code: int = 1) -> str:
    """An expected failure: the exit code, and exactly one line on stderr — no traceback."""
    assert done.returncode == code, (done.stdout, done.stderr)
    assert done.stderr.startswith("phoenix-client: "), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    line: str = done.stderr
    return line


def wallet(home: Path) -> list[dict[str, str]]:
    tokens: list[dict[str, str]] = json.loads((home / "tokens.json").read_text())["tokens"]
    return tokens


def leases(system: PhoenixSystem) -> list[str]:
    with psycopg.connect(system.url("nodedb")) as connection:
        rows = connection.execute("SELECT public_key FROM leases").fetchall()
    return [encode_key(bytes(row[0])) for row in rows]


def subscriber(system: PhoenixSystem, home: Path, tokens: int) -> str:
    """A new user who signed up with the client, paid, and fetched `tokens`; their email."""
    email = FirebaseAuthEmulator.unique_email()
    ok(system.client(home, "signup", "--email", email, stdin=PASSWORD))
    system.subscribe(json.loads(ok(system.client(home, "account")))["uid"])
    ok(system.client(home, "tokens", "fetch", "--count", str(tokens)))
    return email


def private_key_line(text: str) -> str:
    [line] = [line for line in text.splitlines() if line.startswith("PrivateKey = ")]
    return line.removeprefix("PrivateKey = ")


def test_signup_subscribe_fetch_and_connect_the_way_a_user_does(
    system: PhoenixSystem, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    email = FirebaseAuthEmulator.unique_email()
    assert ok(system.client(home, "signup", "--email", email, stdin=PASSWORD)) == (
        f"signed in as {email}\n"
    )
    before = json.loads(ok(system.client(home, "account")))
    assert before["email"] == email
    assert before["entitlement"]["active"] is False
    line = refused(system.client(home, "tokens", "fetch", "--count", "2"))
    assert "auth answered 403" in line
    assert "no active subscription" in line

    system.subscribe(before["uid"])
    assert json.loads(ok(system.client(home, "account")))["entitlement"]["active"] is True
    out = ok(system.client(home, "tokens", "fetch", "--count", "40", "--batch", "32"))
    assert out == "fetched 40 tokens; the wallet holds 40\n"
    stored = (home / "tokens.json").read_text()
    assert email not in stored
    assert before["uid"] not in stored
    assert ok(system.client(home, "tokens", "count")) == "40\n"

    assert ok(system.client(home, "locations")).split()[:2] == ["de-fra", "DE"]
    config_file = tmp_path / "wg0.conf"
    out = ok(system.client(home, "connect", "--location", "de-fra", "--wg-quick", str(config_file)))
    assert out.startswith(f"wrote {config_file}: 10.")
    assert out.endswith("39 tokens left\n")
    text = config_file.read_text()
    own = encode_key(public_key(parse_key(private_key_line(text))))
    assert own in leases(system)  # the node will be told this key, derived from our private key
    assert config_file.stat().st_mode & 0o077 == 0

    sealed = ok(system.client(home, "connect", "--location", "de-fra", "--server-keys"))
    made_by_server = encode_key(public_key(parse_key(private_key_line(sealed))))
    assert made_by_server in leases(system)
    assert len(wallet(home)) == 38

    # DNS blocking asked for on this tunnel: the node's filtered resolver address.
    blocked = ok(system.client(home, "connect", "--location", "de-fra", "--dns", "base"))
    assert "DNS = 100.64.0.2" in blocked.splitlines()
    assert "DNS = 100.64.0.2" not in sealed.splitlines()


def test_every_refusal_is_one_line_and_a_token_is_kept_unless_it_is_spent(
    system: PhoenixSystem, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    email = subscriber(system, home, 2)
    assert "use phoenix-client login" in refused(
        system.client(home, "signup", "--email", email, stdin=PASSWORD)
    )
    assert "wrong email or password" in refused(
        system.client(home, "login", "--email", email, stdin="not the password\n")
    )
    ok(system.client(home, "login", "--email", email, stdin=PASSWORD))

    line = refused(system.client(home, "connect", "--location", "xx-nowhere"))
    assert "config answered 404" in line
    assert len(wallet(home)) == 2  # not spent: kept
    line = refused(system.client(home, "connect", "--location", "de-fra", "--dns", "all-of-it"))
    assert "config answered 422" in line
    assert len(wallet(home)) == 2
    first = wallet(home)[0]
    ok(system.client(home, "connect", "--location", "de-fra"))
    # The same token again (as a copied wallet would hold it): refused as spent, then dropped.
    (home / "tokens.json").write_text(json.dumps({"tokens": [first, *wallet(home)]}))
    line = refused(system.client(home, "connect", "--location", "de-fra"))
    assert "config answered 401" in line
    assert "already used" in line
    assert len(wallet(home)) == 1
    assert first not in wallet(home)

    bad = dict(first, token=base64.urlsafe_b64encode(b"\x00\x02" + b"\x01" * 320).decode())
    (home / "tokens.json").write_text(json.dumps({"tokens": [bad]}))
    assert "not valid here" in refused(system.client(home, "connect", "--location", "de-fra"))
    assert wallet(home) == []
    assert "no tokens left" in refused(system.client(home, "connect", "--location", "de-fra"))


def test_tokens_outlive_the_account_they_were_paid_with(
    system: PhoenixSystem, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    subscriber(system, home, 1)
    assert ok(system.client(home, "account", "--delete")).startswith("account deleted")
    assert "not signed in" in refused(system.client(home, "account"))
    # Unlinkable by design: nothing ties the token to the account that is gone.
    assert "[Peer]" in ok(system.client(home, "connect", "--location", "de-fra"))


def test_the_blocklist_is_checked_against_the_signed_filter(
    system: PhoenixSystem, tmp_path: Path
) -> None:
    system.wait_for_blocklist()
    home = tmp_path / "home"
    for name in BLOCKED:
        assert ok(system.client(home, "blocklist", "check", name.upper() + ".")) == (
            f"{name.upper()}.: listed ({name})\n"
        )
    assert ok(system.client(home, "blocklist", "check", "cdn.ads.example.com")) == (
        "cdn.ads.example.com: listed (ads.example.com)\n"
    )
    assert ok(system.client(home, "blocklist", "check", "example.com")) == (
        "example.com: not listed\n"
    )
    other = base64.b64encode(bytes(32)).decode()
    line = refused(
        system.client(home, "--blocklist-key", other, "blocklist", "check", "ads.example.com")
    )
    assert "signature does not verify" in line
    manifest = httpx.get(system.base_url("worker") + "/blocklist/base/manifest.json")
    assert manifest.status_code == 200
    line = refused(system.client(home, "blocklist", "check", "x.example", "--variant", "other"))
    assert "no other blocklist is published at http://127.0.0.1:" in line
