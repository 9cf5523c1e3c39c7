"""The issuer key of token type 0x0002 and its id (RFC 9578 §6.5).

A SubjectPublicKeyInfo with the id-RSASSA-PSS OID and its parameters, which `cryptography`
does not produce itself.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from phoenix.crypto import blind_rsa
from phoenix.crypto.privacypass.base64url import b64url_decode, b64url_encode
from phoenix.crypto.privacypass.errors import DecodeError
from phoenix.crypto.privacypass.reader import Reader

MODULUS_BITS = 2048
# RFC 9578 §6 uses RSABSSA-SHA384-PSS-Deterministic; §6.4 verifies with a 48-byte salt.
VARIANT = blind_rsa.RSABSSA_SHA384_PSS_DETERMINISTIC


def _der(tag: int, content: bytes) -> bytes:
    """One DER TLV with a definite, minimal length (X.690 §8.1.3)."""
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + content


_SEQUENCE, _INTEGER, _BIT_STRING, _OID = 0x30, 0x02, 0x03, 0x06
_OID_RSASSA_PSS = _der(_OID, bytes.fromhex("2a864886f70d01010a"))  # 1.2.840.113549.1.1.10
_OID_MGF1 = _der(_OID, bytes.fromhex("2a864886f70d010108"))  # 1.2.840.113549.1.1.8
_OID_SHA384 = _der(_OID, bytes.fromhex("608648016503040202"))  # 2.16.840.1.101.3.4.2.2
# AlgorithmIdentifier for SHA-384 with absent parameters, as RFC 4055 §2.1 recommends and the
# RFC 9578 example key shows.
_SHA384_ALGORITHM = _der(_SEQUENCE, _OID_SHA384)
# RSASSA-PSS-params (RFC 4055 §3.1): hash SHA-384, MGF1 with SHA-384, salt 48; trailerField
# is the default and therefore absent in DER.
_PSS_PARAMS = _der(
    _SEQUENCE,
    _der(0xA0, _SHA384_ALGORITHM)
    + _der(0xA1, _der(_SEQUENCE, _OID_MGF1 + _SHA384_ALGORITHM))
    + _der(0xA2, _der(_INTEGER, bytes([VARIANT.salt_length]))),
)
_PSS_ALGORITHM = _der(_SEQUENCE, _OID_RSASSA_PSS + _PSS_PARAMS)


def encode_public_key_pss(public_key: rsa.RSAPublicKey) -> bytes:
    """DER SubjectPublicKeyInfo with id-RSASSA-PSS and its parameters (RFC 9578 §6.5).

    `cryptography` only writes the rsaEncryption OID, which RFC 9474 §6.2 forbids for these keys.
    """
    rsa_public_key = public_key.public_bytes(Encoding.DER, PublicFormat.PKCS1)
    return _der(_SEQUENCE, _PSS_ALGORITHM + _der(_BIT_STRING, b"\x00" + rsa_public_key))


def token_key_id(spki: bytes) -> bytes:
    """SHA-256 of the encoded issuer key (RFC 9578 §6.5)."""
    return hashlib.sha256(spki).digest()


def _read_tlv(reader: Reader, tag: int, what: str) -> bytes:
    if reader.uint(1, what) != tag:
        raise DecodeError(f"{what}: unexpected DER tag")
    first = reader.uint(1, f"length of {what}")
    if first < 0x80:
        return reader.take(first, what)
    size = first & 0x7F
    if not 1 <= size <= 2:  # nothing in a 2048-bit key SPKI needs more than 65535 bytes
        raise DecodeError(f"{what}: unsupported DER length")
    return reader.take(reader.uint(size, f"length of {what}"), what)


def _read_positive_integer(reader: Reader, what: str) -> int:
    content = _read_tlv(reader, _INTEGER, what)
    if not content or content[0] & 0x80:
        raise DecodeError(f"{what} must be a positive INTEGER")
    return int.from_bytes(content, "big")


class TokenKey:
    """An issuer public key for token type 0x0002, with its RFC 9578 §6.5 encoding and id.

    `spki` is the DER SubjectPublicKeyInfo with id-RSASSA-PSS and RSASSA-PSS-params (SHA-384,
    MGF1-SHA-384, salt 48): the `token-key` of the issuer directory and of WWW-Authenticate.
    `token_key_id` is SHA-256 of `spki`.
    """

    __slots__ = ("_public_key", "_spki", "_token_key_id")

    def __init__(self, public_key: rsa.RSAPublicKey) -> None:
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise TypeError("a type 0x0002 token key is an RSA public key")
        if public_key.key_size != MODULUS_BITS:
            raise ValueError(f"a type 0x0002 token key has a {MODULUS_BITS}-bit modulus")
        self._public_key = public_key
        self._spki = encode_public_key_pss(public_key)
        self._token_key_id = token_key_id(self._spki)

    @classmethod
    def from_spki(cls, der: bytes) -> TokenKey:
        """Parse the RSASSA-PSS SPKI form, and only that form, exactly as `spki` produces it."""
        reader = Reader(der)
        outer = Reader(_read_tlv(reader, _SEQUENCE, "SubjectPublicKeyInfo"))
        reader.finish("SubjectPublicKeyInfo")
        if outer.take(len(_PSS_ALGORITHM), "algorithm") != _PSS_ALGORITHM:
            raise DecodeError("token-key is not RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48")
        bits = _read_tlv(outer, _BIT_STRING, "subjectPublicKey")
        outer.finish("SubjectPublicKeyInfo")
        if not bits or bits[0] != 0:
            raise DecodeError("subjectPublicKey must have no unused bits")
        key_reader = Reader(bits[1:])
        fields = Reader(_read_tlv(key_reader, _SEQUENCE, "RSAPublicKey"))
        key_reader.finish("RSAPublicKey")
        n = _read_positive_integer(fields, "modulus")
        e = _read_positive_integer(fields, "publicExponent")
        fields.finish("RSAPublicKey")
        if n.bit_length() != MODULUS_BITS:
            raise DecodeError(f"a type 0x0002 token key has a {MODULUS_BITS}-bit modulus")
        try:
            key = cls(rsa.RSAPublicNumbers(e, n).public_key())
        except ValueError as exc:
            raise DecodeError(f"invalid RSA public key: {exc}") from None
        # Re-encoding must give the input back: this rejects every non-canonical DER form
        # (long-form lengths, leading zeros), so one key has exactly one token_key_id.
        if key.spki != bytes(der):
            raise DecodeError("token-key is not in canonical DER")
        return key

    @classmethod
    def from_base64url(cls, text: str) -> TokenKey:
        """The `token-key` form of the issuer directory (RFC 9578 §4) and WWW-Authenticate."""
        return cls.from_spki(b64url_decode(text))

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self._public_key

    @property
    def spki(self) -> bytes:
        return self._spki

    @property
    def token_key_id(self) -> bytes:
        return self._token_key_id

    @property
    def truncated_token_key_id(self) -> int:
        """The last byte of token_key_id, as sent in TokenRequest (RFC 9578 §6.1)."""
        return self._token_key_id[-1]

    def to_base64url(self) -> str:
        return b64url_encode(self._spki)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenKey) and other._spki == self._spki

    def __hash__(self) -> int:
        return hash(self._spki)

    def __repr__(self) -> str:
        return f"TokenKey(token_key_id={self._token_key_id.hex()})"
