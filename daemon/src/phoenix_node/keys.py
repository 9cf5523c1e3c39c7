"""The node's WireGuard key pair: made on first start, kept only in RAM (tmpfs).

The private key is written once, mode 0600, to a directory whose filesystem ``statfs(2)`` says
is tmpfs or ramfs; anything else is refused unless the operator passes ``--allow-disk-keys``
(development only). It outlives the daemon (a restart keeps the node's identity) but not the
machine; ``phoenix-node forget`` is the one way to drop it earlier. Nothing here logs or formats
the private key: :class:`KeyPair`'s repr hides it.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

PRIVATE_KEY_FILE: Final = "private.key"
TMPFS_MAGIC: Final = 0x01021994
RAMFS_MAGIC: Final = 0x858458F6
RAM_FILESYSTEMS: Final = {TMPFS_MAGIC: "tmpfs", RAMFS_MAGIC: "ramfs"}


class KeyStoreError(Exception):
    """The key directory cannot hold the keys safely; the message says why."""


@dataclass(frozen=True)
class KeyPair:
    private: bytes = field(repr=False)
    public: bytes

    @property
    def public_base64(self) -> str:
        return base64.b64encode(self.public).decode("ascii")


def filesystem_type(path: Path) -> int:
    """``f_type`` of ``statfs(2)`` for ``path`` (Linux)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    buffer = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux
    if libc.statfs(os.fsencode(path), buffer) != 0:
        error = ctypes.get_errno()
        raise KeyStoreError(f"statfs({path}) failed: {os.strerror(error)}")
    return ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF


def generate() -> KeyPair:
    secret = X25519PrivateKey.generate()
    return KeyPair(
        secret.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
        secret.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
    )


def public_from_private(private: bytes) -> bytes:
    return (
        X25519PrivateKey.from_private_bytes(private)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


class KeyStore:
    def __init__(self, directory: Path, allow_disk: bool = False) -> None:
        self.directory = directory
        self.allow_disk = allow_disk

    @property
    def path(self) -> Path:
        return self.directory / PRIVATE_KEY_FILE

    def check_directory(self) -> str:
        """Create the directory (0700) and return its filesystem's name; refuse disk."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise KeyStoreError(f"cannot create {self.directory}: {error.strerror}") from None
        kind = RAM_FILESYSTEMS.get(filesystem_type(self.directory))
        if kind is not None:
            return kind
        if self.allow_disk:
            return "disk (allowed by --allow-disk-keys)"
        raise KeyStoreError(
            f"{self.directory} is not on tmpfs or ramfs: refusing to write a private key to disk"
            " (mount a tmpfs there, or pass --allow-disk-keys for development)"
        )

    def load_or_create(self) -> tuple[KeyPair, bool]:
        """The stored pair, or a new one written with mode 0600; True when it was made now."""
        self.check_directory()
        if self.path.exists():
            try:
                private = base64.b64decode(self.path.read_bytes().strip(), validate=True)
            except (OSError, ValueError):
                private = b""
            if len(private) != 32:
                raise KeyStoreError(f"{self.path} does not hold a base64 WireGuard private key")
            return KeyPair(private, public_from_private(private)), False
        pair = generate()
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(base64.b64encode(pair.private) + b"\n")
        return pair, True

    def erase(self) -> bool:
        """Overwrite and remove the private key; True when there was one."""
        return shred(self.path)


def shred(path: Path) -> bool:
    """Overwrite a file with zeros, then unlink it; True when there was one.

    On tmpfs the pages are freed at unlink anyway; the overwrite is for a ``--allow-disk-keys``
    directory, where unlinking alone leaves the bytes on the disk.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    with path.open("r+b") as handle:
        handle.write(b"\0" * size)
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()
    return True
