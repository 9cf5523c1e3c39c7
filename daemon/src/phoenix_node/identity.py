"""The node's registration (id, credential, pools) kept next to its key: a restart is no new node.

``KEY_DIR/node.json``, mode 0600, in the RAM-only key directory (the key store's checks apply:
tmpfs or ramfs unless ``--allow-disk-keys``), so it lives exactly as long as the private key it
belongs to. It is written atomically — a temporary file in the same directory, then a rename —
so a daemon killed mid-write leaves the old registration or the new one, never half of one.
Nothing here logs the credential; :class:`~phoenix_node.api.Registration`'s repr hides it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Final

import msgspec

from phoenix_node.api import Registration
from phoenix_node.keys import KeyStore, shred

IDENTITY_FILE: Final = "node.json"
TEMP_PREFIX: Final = ".node.json."


class StaleIdentity(Exception):
    """The stored registration was unusable (unreadable, or another key's) and is removed."""


class StoredIdentity(msgspec.Struct, frozen=True):
    public_key: str  # the registration is only valid for the key it was made with
    registration: Registration


class IdentityStore:
    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    @property
    def path(self) -> Path:
        return self.keys.directory / IDENTITY_FILE

    def load(self, public_key: str) -> Registration | None:
        """This key's stored registration, or None when there is none.

        Raises :class:`StaleIdentity` (after removing the file) when the file cannot be read or
        was written for another key: its credential would be refused, or worse, accepted for a
        node whose key we no longer hold.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            stored = msgspec.json.decode(raw, type=StoredIdentity)
        except msgspec.DecodeError:
            shred(self.path)
            raise StaleIdentity(f"{self.path} is not a stored registration") from None
        if stored.public_key != public_key:
            shred(self.path)
            raise StaleIdentity(f"{self.path} belongs to another WireGuard key")
        return stored.registration

    def save(self, public_key: str, registration: Registration) -> None:
        self.keys.check_directory()
        data = msgspec.json.encode(StoredIdentity(public_key, registration))
        # mkstemp creates the file 0600 and exclusively, before a byte of the credential is in it.
        descriptor, temp = tempfile.mkstemp(dir=self.keys.directory, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            _discard(Path(temp))
            raise

    def forget(self) -> bool:
        """Overwrite and remove the registration (and any half-written copy); True if there was."""
        for stray in self.keys.directory.glob(TEMP_PREFIX + "*"):
            shred(stray)
        return shred(self.path)


def _discard(path: Path) -> None:
    """Remove a half-written copy even when overwriting it fails too (a full or broken disk):
    no stray credential is left behind, and the caller's error is the one raised."""
    try:
        shred(path)
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink()
