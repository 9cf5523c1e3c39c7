"""The issuer's signing keys: a PEM bundle, rotation by not-before, and the listed set.

A bundle is PEM private keys (RSA-2048), each preceded by a ``Not-Before: <ISO 8601>`` line
(RFC 7468 lets explanatory text stand before a PEM block). The newest key past its not-before
is listed first, so clients prefer it (RFC 9578 §4); an older key stays listed for ``overlap``
after its successor took over, so tokens fetched ahead of time still redeem at config; keys not
yet valid are listed last, so verifiers learn them before any token is signed with them.

A key's life is bounded whether or not anyone rotates (RFC 9578 §8, RFC 9576 §6.2): it signs
for at most ``max_age`` after its not-before, and it is listed (so config accepts its tokens)
until ``max_age + overlap`` after it. Config keeps a spent mark exactly as long, so a token
outlives neither its key nor its mark. A key past its signing life with no successor leaves the
issuer unable to sign: readiness says so, rather than one key signing forever.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from phoenix.crypto.blind_rsa import BlindSigningKey
from phoenix.crypto.privacypass.token_key import TokenKey

MODULUS_BITS: Final = 2048
_BLOCK = re.compile(
    r"(?P<preamble>(?:^(?!-----BEGIN).*\n)*?)"
    r"(?P<pem>-----BEGIN (?:RSA )?PRIVATE KEY-----\n[A-Za-z0-9+/=\s]+?"
    r"-----END (?:RSA )?PRIVATE KEY-----)",
    re.MULTILINE,
)
_NOT_BEFORE = re.compile(r"^Not-Before:\s*(\S+)\s*$", re.MULTILINE)


class KeyBundleError(ValueError):
    pass


@dataclass(frozen=True, eq=False)
class SigningKey:
    private_key: rsa.RSAPrivateKey
    not_before: datetime

    @property
    def token_key(self) -> TokenKey:
        return TokenKey(self.private_key.public_key())

    @property
    def truncated_id(self) -> int:
        return self.token_key.truncated_token_key_id

    def __repr__(self) -> str:  # never the key itself
        return f"SigningKey(not_before={self.not_before.isoformat()}, id={self.truncated_id})"


@dataclass(frozen=True, eq=False)
class ActiveKey:
    """A listed key ready to sign: its public form and its prepared BlindSign key."""

    token_key: TokenKey
    signer: BlindSigningKey
    not_before: datetime


def parse_bundle(text: str) -> list[SigningKey]:
    """Every key of a bundle, oldest first; refuses weak keys and colliding truncated ids."""
    keys: list[SigningKey] = []
    for match in _BLOCK.finditer(text.replace("\r\n", "\n")):
        position = len(keys) + 1
        stamp = _NOT_BEFORE.search(match.group("preamble"))
        if stamp is None:
            raise KeyBundleError(f"key {position} has no 'Not-Before:' line before it")
        not_before = _parse_time(stamp.group(1), position)
        try:
            private = serialization.load_pem_private_key(match.group("pem").encode(), None)
        except (ValueError, TypeError):
            raise KeyBundleError(f"key {position} is not a readable PEM private key") from None
        if not isinstance(private, rsa.RSAPrivateKey) or private.key_size != MODULUS_BITS:
            raise KeyBundleError(f"key {position} is not an RSA-{MODULUS_BITS} key")
        keys.append(SigningKey(private, not_before))
    if not keys:
        raise KeyBundleError("no PEM private key found")
    check_unique(keys)
    return sorted(keys, key=lambda key: key.not_before)


def check_unique(keys: Sequence[SigningKey]) -> None:
    # RFC 9578 §6.1: a request names its key by the id's last byte alone, so it must be unique.
    seen: set[int] = set()
    for key in keys:
        if key.truncated_id in seen:
            raise KeyBundleError(
                f"two keys share the truncated key id {key.truncated_id}: replace one of them"
            )
        seen.add(key.truncated_id)


@dataclass(frozen=True)
class KeyLife:
    """How long a key signs (``max_age``) and how much longer its tokens redeem (``overlap``)."""

    max_age: timedelta
    overlap: timedelta

    def signs_until(self, key: SigningKey) -> datetime:
        return key.not_before + self.max_age

    def listed_until(self, key: SigningKey) -> datetime:
        return key.not_before + self.max_age + self.overlap


def listed_keys(keys: Sequence[SigningKey], now: datetime, life: KeyLife) -> list[SigningKey]:
    """The directory's keys in preference order: signing key, predecessors in overlap, upcoming.

    A predecessor drops out ``overlap`` after its successor took over, and any key drops out
    once its whole life (``max_age + overlap``) is over, successor or not.
    """
    ordered = sorted(keys, key=lambda key: key.not_before)
    valid = [key for key in ordered if key.not_before <= now < life.listed_until(key)]
    upcoming = [key for key in ordered if key.not_before > now]
    kept = []
    for index, key in enumerate(valid):
        successor = valid[index + 1] if index + 1 < len(valid) else None
        if successor is None or successor.not_before + life.overlap > now:
            kept.append(key)
    return [*reversed(kept), *upcoming]


def signing_key(keys: Sequence[SigningKey], now: datetime, life: KeyLife) -> SigningKey | None:
    """The key that signs now: the newest in effect, unless its signing life is over."""
    valid = [key for key in keys if key.not_before <= now]
    if not valid:
        return None
    newest = max(valid, key=lambda key: key.not_before)
    return newest if now < life.signs_until(newest) else None


def render_key(private_key: rsa.RSAPrivateKey, not_before: datetime) -> str:
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return f"Not-Before: {not_before.astimezone(UTC).isoformat().replace('+00:00', 'Z')}\n{pem}"


def generate(existing: Sequence[SigningKey], not_before: datetime) -> SigningKey:
    """A new RSA-2048 key whose truncated id collides with none of ``existing``."""
    taken = {key.truncated_id for key in existing}
    if len(taken) >= 256:
        raise KeyBundleError("all 256 truncated key ids are in use: retire old keys first")
    while True:
        candidate = SigningKey(
            rsa.generate_private_key(public_exponent=65537, key_size=MODULUS_BITS), not_before
        )
        if candidate.truncated_id not in taken:
            return candidate


def _parse_time(text: str, position: int) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise KeyBundleError(f"key {position}: Not-Before {text!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        raise KeyBundleError(f"key {position}: Not-Before {text!r} needs a time zone")
    return moment
