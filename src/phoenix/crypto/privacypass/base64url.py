"""base64url with padding: the only form RFC 9577 §2.1.2 and §2.2.2 allow in headers."""

from __future__ import annotations

import base64
import re

from phoenix.crypto.privacypass.errors import DecodeError

_B64URL_PADDED = re.compile(r"(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?")


def b64url_encode(data: bytes) -> str:
    """base64url with padding (RFC 4648 §5): RFC 9577 §2.1.2 says the value MUST include it."""
    return base64.urlsafe_b64encode(data).decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url with padding: the only form RFC 9577 §2.1.2 and §2.2.2 allow.

    Rejects missing padding, the standard alphabet ('+', '/'), whitespace and non-zero pad bits.
    """
    if not isinstance(text, str) or not _B64URL_PADDED.fullmatch(text):
        raise DecodeError("not padded base64url")
    raw = base64.urlsafe_b64decode(text)
    if b64url_encode(raw) != text:
        raise DecodeError("non-canonical base64url (non-zero pad bits)")
    return raw
