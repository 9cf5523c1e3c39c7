"""The node's registration survives restarts next to its key: 0600, atomic, its key's only,
removed by ``phoenix-node forget`` (the only way to drop the identity short of the machine
stopping)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import msgspec
import pytest

from phoenix_node.api import Registration
from phoenix_node.identity import IdentityStore, StaleIdentity
from phoenix_node.keys import KeyStore, KeyStoreError

CREDENTIAL = "node-credential-" + "c" * 32


def registration(credential: str = CREDENTIAL) -> Registration:
    return Registration(
        node_id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
        node_credential=credential,
        ipv4_pool="10.64.0.0/20",
        ipv6_pool="fd00:64::/64",
        revision=7,
        status="pending",
    )


def stores(directory: Path, allow_disk: bool = False) -> tuple[KeyStore, IdentityStore, str]:
    keys = KeyStore(directory, allow_disk=allow_disk)
    pair, _ = keys.load_or_create()
    return keys, IdentityStore(keys), pair.public_base64


def test_a_registration_is_saved_0600_next_to_the_key_and_loaded_back(ram_dir: Path) -> None:
    _, identity, public = stores(ram_dir)
    assert identity.load(public) is None
    identity.save(public, registration())
    assert identity.path == ram_dir / "node.json"
    assert stat.S_IMODE(identity.path.stat().st_mode) == 0o600
    assert identity.load(public) == registration()
    assert sorted(p.name for p in ram_dir.iterdir()) == ["node.json", "private.key"]


def test_a_save_replaces_the_file_whole_by_a_rename(ram_dir: Path) -> None:
    _, identity, public = stores(ram_dir)
    identity.save(public, registration("old-credential-" + "o" * 32))
    with identity.path.open("rb") as old:
        identity.save(public, registration())
        # The old file was never written in place: an open handle still reads it whole.
        assert b"old-credential-" in old.read()
    assert identity.load(public) == registration()


def test_a_save_that_fails_midway_leaves_the_previous_registration_and_no_copy(
    ram_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, identity, public = stores(ram_dir)
    identity.save(public, registration("old-credential-" + "o" * 32))

    def full(descriptor: int) -> None:
        raise OSError(28, "No space left on device")  # a full tmpfs, as the kernel says it

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        identity.save(public, registration())
    monkeypatch.undo()
    kept = identity.load(public)
    assert kept is not None
    assert kept.node_credential.startswith("old-credential-")
    assert sorted(p.name for p in ram_dir.iterdir()) == ["node.json", "private.key"]


def test_a_registration_made_for_another_key_is_removed_not_used(ram_dir: Path) -> None:
    _, identity, public = stores(ram_dir)
    identity.save("B" * 43 + "=", registration())
    with pytest.raises(StaleIdentity, match="another WireGuard key"):
        identity.load(public)
    assert not identity.path.exists()


def test_an_unreadable_registration_is_removed_not_used(ram_dir: Path) -> None:
    _, identity, public = stores(ram_dir)
    identity.path.write_text('{"public_key": "half a file')
    with pytest.raises(StaleIdentity, match="not a stored registration"):
        identity.load(public)
    assert not identity.path.exists()


def test_the_key_directory_rules_apply_to_the_registration(tmp_path: Path) -> None:
    # tmp_path is on the machine's disk: the refusal is real, as for the key.
    _, identity, public = stores(tmp_path / "keys", allow_disk=True)
    refusing = IdentityStore(KeyStore(tmp_path / "keys"))
    with pytest.raises(KeyStoreError, match="not on tmpfs or ramfs"):
        refusing.save(public, registration())
    assert not refusing.path.exists()
    identity.save(public, registration())
    assert identity.load(public) == registration()


def test_forget_overwrites_and_removes_the_registration_and_any_half_written_copy(
    ram_dir: Path,
) -> None:
    _, identity, public = stores(ram_dir)
    identity.save(public, registration())
    stray = ram_dir / ".node.json.abc123"  # what a daemon killed between write and rename leaves
    stray.write_bytes(msgspec.json.encode(registration()))
    with identity.path.open("rb") as still_open:
        assert identity.forget()
        assert set(still_open.read()) == {0}  # overwritten before the unlink
    assert sorted(p.name for p in ram_dir.iterdir()) == ["private.key"]
    assert not identity.forget()


def test_the_credential_is_never_in_a_repr() -> None:
    shown = repr(registration()) + str(registration())
    assert CREDENTIAL not in shown
    assert "00000000-0000-4000-8000-000000000001" in shown


def forget(key_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "phoenix_node", "forget", *flags],
        env={"PATH": os.environ["PATH"], "PHOENIX_NODE_KEY_DIR": str(key_dir)},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_phoenix_node_forget_drops_key_and_registration_with_one_json_line(
    ram_dir: Path,
) -> None:
    # No other setting is needed: forgetting must work whatever the rest of the config is.
    _, identity, public = stores(ram_dir)
    identity.save(public, registration())
    done = forget(ram_dir)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    record = json.loads(line)
    assert record["event"] == "identity_forgotten"
    assert (record["key"], record["registration"]) == (True, True)
    assert CREDENTIAL not in done.stdout + done.stderr
    assert list(ram_dir.iterdir()) == []
    again = forget(ram_dir)
    assert again.returncode == 0
    assert (json.loads(again.stdout)["key"], json.loads(again.stdout)["registration"]) == (
        False,
        False,
    )


def test_phoenix_node_forget_keeps_off_a_disk_directory_unless_allowed(tmp_path: Path) -> None:
    _, identity, public = stores(tmp_path / "keys", allow_disk=True)
    identity.save(public, registration())
    refused = forget(tmp_path / "keys")
    assert refused.returncode == 2
    assert "not on tmpfs or ramfs" in refused.stderr
    assert identity.path.exists()
    allowed = forget(tmp_path / "keys", "--allow-disk-keys")
    assert allowed.returncode == 0, allowed.stderr
    assert list((tmp_path / "keys").iterdir()) == []


def test_sigterm_keeps_the_key_and_the_registration_for_the_next_start(
    ram_dir: Path, tmp_path: Path
) -> None:
    # The daemon runs as its own process; `true` in place of wireguard-go makes no interface,
    # which holds the daemon in its prepare step (no root, no tunnel) while the signal arrives.
    keys, identity, public = stores(ram_dir)
    identity.save(public, registration())
    before = {path.name: path.read_bytes() for path in ram_dir.iterdir()}
    log = tmp_path / "daemon.log"
    env = {
        "PATH": os.environ["PATH"],
        "PHOENIX_NODE_API_URL": "http://127.0.0.1:9",
        "PHOENIX_NODE_ENROLLMENT_KEY": "pnk_unused-in-this-test",
        "PHOENIX_NODE_REGION": "de-fra",
        "PHOENIX_NODE_PUBLIC_IP": "192.0.2.1",
        "PHOENIX_NODE_KEY_DIR": str(ram_dir),
        "PHOENIX_NODE_WG_BACKEND": "uapi",
        "PHOENIX_NODE_WG_INTERFACE": f"wgt{uuid.uuid4().hex[:8]}",
        "PHOENIX_NODE_WIREGUARD_GO": "true",
        "PHOENIX_NODE_FIREWALL": "false",
        "PHOENIX_NODE_SYSCTL": "false",
        "PHOENIX_NODE_METRICS_PORT": "0",
    }
    with log.open("wb") as out:
        daemon = subprocess.Popen([sys.executable, "-m", "phoenix_node"], env=env, stdout=out)
        try:
            deadline = time.monotonic() + 15
            while '"register_restored"' not in log.read_text():
                assert daemon.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.02)
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(15) == 0, log.read_text()
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert "stopping" in events
    assert {path.name: path.read_bytes() for path in ram_dir.iterdir()} == before
    assert identity.load(keys.load_or_create()[0].public_base64) == registration()
