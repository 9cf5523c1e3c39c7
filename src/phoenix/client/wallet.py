"""What the client keeps on disk: the Firebase session, and — apart from it — the tokens.

`tokens.json` holds only tokens and the challenge each answers: no email, no uid, no time of
issuance. Nothing in it says which account fetched it; that is the point of Privacy Pass, and the
file must keep it so. Both files are written whole (a rename) and readable by the owner only.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Final, TypeVar

import msgspec

from phoenix.client.errors import EXIT_USAGE, ClientError

SESSION: Final = "session.json"
TOKENS: Final = "tokens.json"

T = TypeVar("T")


class Session(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    uid: str
    id_token: str
    refresh_token: str


class StoredToken(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    token: str  # base64url of the encoded Token (RFC 9577 §2.2)
    challenge: str  # base64url of the TokenChallenge it was made for


class Wallet(msgspec.Struct, forbid_unknown_fields=True):
    tokens: list[StoredToken] = msgspec.field(default_factory=list)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read(path: Path, kind: type[T]) -> T | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ClientError(f"cannot read {path}: {error.strerror}", EXIT_USAGE) from None
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.DecodeError as error:
        raise ClientError(f"{path} is damaged ({error}): remove it", EXIT_USAGE) from None


def load_session(home: Path) -> Session:
    session = _read(home / SESSION, Session)
    if session is None:
        raise ClientError("not signed in: run phoenix-client signup or phoenix-client login")
    return session


def save_session(home: Path, session: Session) -> None:
    _write(home / SESSION, msgspec.json.encode(session))


def forget_session(home: Path) -> None:
    (home / SESSION).unlink(missing_ok=True)


def load_wallet(home: Path) -> Wallet:
    return _read(home / TOKENS, Wallet) or Wallet()


def save_wallet(home: Path, wallet: Wallet) -> None:
    _write(home / TOKENS, msgspec.json.encode(wallet))
