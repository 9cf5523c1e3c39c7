"""The errors of phoenix.crypto.privacypass: decoders raise DecodeError and nothing else."""

from __future__ import annotations


class PrivacyPassError(Exception):
    """Base class of every error raised by phoenix.crypto.privacypass."""


class DecodeError(PrivacyPassError, ValueError):
    """Input is not a well-formed encoding of the expected structure, header or key."""


class InvalidToken(PrivacyPassError):
    """A token (or an issuer's response) does not verify under the issuer key."""
