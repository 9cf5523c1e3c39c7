"""Keys only in RAM: tmpfs checked by statfs, mode 0600, erased on request, never in a repr."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from phoenix_node.keys import KeyStore, KeyStoreError, public_from_private


def test_a_new_key_pair_is_written_0600_to_tmpfs_and_read_back(ram_dir: Path) -> None:
    store = KeyStore(ram_dir)
    assert store.check_directory() == "tmpfs"
    pair, made = store.load_or_create()
    assert made
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ram_dir.stat().st_mode) == 0o700
    assert base64.b64decode(store.path.read_bytes()) == pair.private
    assert public_from_private(pair.private) == pair.public
    again, made_again = KeyStore(ram_dir).load_or_create()
    assert not made_again
    assert again == pair


def test_a_disk_directory_is_refused_unless_allowed(tmp_path: Path) -> None:
    # tmp_path is on the machine's disk (ext4 here): the refusal is real, not simulated.
    with pytest.raises(KeyStoreError, match="not on tmpfs or ramfs"):
        KeyStore(tmp_path / "keys").load_or_create()
    assert not (tmp_path / "keys" / "private.key").exists()
    pair, _ = KeyStore(tmp_path / "keys", allow_disk=True).load_or_create()
    assert len(pair.public) == 32


def test_erase_overwrites_and_removes_the_key(ram_dir: Path) -> None:
    store = KeyStore(ram_dir)
    store.load_or_create()
    with store.path.open("rb") as still_open:  # still reads the file after the unlink
        assert store.erase()
        assert still_open.read() == bytes(45)  # base64 of 32 bytes and a newline, now zeros
    assert not store.path.exists()
    assert not store.erase()


def test_the_private_key_never_appears_in_a_repr(ram_dir: Path) -> None:
    pair, _ = KeyStore(ram_dir).load_or_create()
    shown = repr(pair) + str(pair)
    assert base64.b64encode(pair.private).decode() not in shown
    assert pair.private.hex() not in shown
    assert repr(pair.private) not in shown


def test_a_corrupt_key_file_is_a_clear_error(ram_dir: Path) -> None:
    ram_dir.mkdir(mode=0o700)
    (ram_dir / "private.key").write_text("not a key")
    with pytest.raises(KeyStoreError, match="does not hold a base64 WireGuard private key"):
        KeyStore(ram_dir).load_or_create()
