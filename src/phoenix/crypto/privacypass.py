"""Privacy Pass for token type 0x0002 (Blind RSA, 2048-bit): structures, keys and HTTP headers.

- TokenChallenge and Token (RFC 9577 §2.1.1, §2.2.1) and the token authenticator input (§2.2.3);
- TokenRequest and TokenResponse for type 0x0002 (RFC 9578 §6.1, §6.2);
- the issuer key encoding and `token_key_id` (RFC 9578 §6.5): a SubjectPublicKeyInfo with the
  id-RSASSA-PSS OID and its parameters, which `cryptography` does not produce itself;
- the `WWW-Authenticate: PrivateToken` and `Authorization: PrivateToken` forms (RFC 9577 §2.1.2,
  §2.2.2), base64url with padding;
- client helpers (build a request, finalize a response), the issuer's signing step and the
  origin's verification (RFC 9578 §6.3, §6.4).

Every decoder raises `DecodeError`, and nothing else, on malformed input. Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import ClassVar, Final

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from phoenix.crypto import blind_rsa

__all__ = [
    "NID",
    "NK",
    "NONCE_LEN",
    "TOKEN_TYPE_BLIND_RSA",
    "VARIANT",
    "DecodeError",
    "InvalidToken",
    "PrivacyPassError",
    "PrivateTokenChallenge",
    "Token",
    "TokenChallenge",
    "TokenKey",
    "TokenRequest",
    "TokenRequestState",
    "TokenResponse",
    "b64url_decode",
    "b64url_encode",
    "build_authorization",
    "build_token_request",
    "build_www_authenticate",
    "challenge_digest",
    "encode_public_key_pss",
    "finalize_token",
    "parse_authorization",
    "parse_authorization_field",
    "parse_www_authenticate",
    "sign_token_request",
    "token_authenticator_input",
    "token_key_id",
    "verify_token",
]

TOKEN_TYPE_BLIND_RSA = 0x0002  # RFC 9578 §8.2.2
NK = 256  # authenticator (signature) size for type 0x0002
NID = 32  # token_key_id size
NONCE_LEN = 32
DIGEST_LEN = 32  # SHA-256, challenge_digest
MODULUS_BITS = 2048
REDEMPTION_CONTEXT_LENGTHS = (0, 32)  # RFC 9577 §2.1.1
# RFC 9578 §6 uses RSABSSA-SHA384-PSS-Deterministic; §6.4 verifies with a 48-byte salt.
VARIANT = blind_rsa.RSABSSA_SHA384_PSS_DETERMINISTIC

_TOKEN_REQUEST_LEN = 2 + 1 + NK


class PrivacyPassError(Exception):
    """Base class of every error raised by this module."""


class DecodeError(PrivacyPassError, ValueError):
    """Input is not a well-formed encoding of the expected structure, header or key."""


class InvalidToken(PrivacyPassError):
    """A token (or an issuer's response) does not verify under the issuer key."""


# --- binary structures (TLS presentation language, RFC 8446 §3) ------------------------------


class _Reader:
    """Reads a byte string front to back; every short read is a DecodeError."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise DecodeError("expected bytes")
        self._data = bytes(data)
        self._pos = 0

    def take(self, length: int, what: str) -> bytes:
        end = self._pos + length
        if end > len(self._data):
            raise DecodeError(f"truncated: {what} needs {length} bytes")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "big")

    def vector(self, length_size: int, what: str) -> bytes:
        return self.take(self.uint(length_size, f"length of {what}"), what)

    def finish(self, what: str) -> None:
        if self._pos != len(self._data):
            raise DecodeError(f"{len(self._data) - self._pos} bytes after the end of the {what}")


def _check_name(value: str, what: str, *, allow_empty: bool) -> None:
    """Server names and origin lists are ASCII without spaces (RFC 9577 §2.1.1.1)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str")
    if not value.isascii() or any(not 0x21 <= ord(char) <= 0x7E for char in value):
        raise ValueError(f"{what} must be visible ASCII")
    if not allow_empty and not value:
        raise ValueError(f"{what} must not be empty")
    if len(value) > 0xFFFF:
        raise ValueError(f"{what} is longer than 65535 bytes")


def _check_bytes(value: bytes, length: int, what: str) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"{what} must be bytes")
    if len(value) != length:
        raise ValueError(f"{what} must be {length} bytes, not {len(value)}")


@dataclass(frozen=True, slots=True)
class TokenChallenge:
    """The default TokenChallenge structure (RFC 9577 §2.1.1).

    `origin_info` is kept as the exact comma-separated string, since the token binds to the
    SHA-256 of these very bytes; `origins` splits it.
    """

    token_type: int
    issuer_name: str
    redemption_context: bytes = b""
    origin_info: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.token_type, int) or not 0 <= self.token_type <= 0xFFFF:
            raise ValueError("token_type is a uint16")
        _check_name(self.issuer_name, "issuer_name", allow_empty=False)
        if not isinstance(self.redemption_context, bytes):
            raise TypeError("redemption_context must be bytes")
        if len(self.redemption_context) not in REDEMPTION_CONTEXT_LENGTHS:
            raise ValueError("redemption_context is either empty or 32 bytes")
        _check_name(self.origin_info, "origin_info", allow_empty=True)

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple(self.origin_info.split(",")) if self.origin_info else ()

    def encode(self) -> bytes:
        issuer = self.issuer_name.encode("ascii")
        origins = self.origin_info.encode("ascii")
        return (
            self.token_type.to_bytes(2, "big")
            + len(issuer).to_bytes(2, "big")
            + issuer
            + len(self.redemption_context).to_bytes(1, "big")
            + self.redemption_context
            + len(origins).to_bytes(2, "big")
            + origins
        )

    @classmethod
    def decode(cls, data: bytes) -> TokenChallenge:
        reader = _Reader(data)
        token_type = reader.uint(2, "token_type")
        issuer = reader.vector(2, "issuer_name")
        context = reader.vector(1, "redemption_context")
        origins = reader.vector(2, "origin_info")
        reader.finish("TokenChallenge")
        try:
            return cls(token_type, issuer.decode("ascii"), context, origins.decode("ascii"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise DecodeError(f"malformed TokenChallenge: {exc}") from None

    def digest(self) -> bytes:
        """challenge_digest: SHA-256 of the encoded challenge (RFC 9577 §2.2.1)."""
        return challenge_digest(self.encode())


def challenge_digest(encoded_challenge: bytes) -> bytes:
    """SHA-256 of an encoded TokenChallenge, as carried in Token.challenge_digest."""
    return hashlib.sha256(encoded_challenge).digest()


def token_authenticator_input(nonce: bytes, challenge_digest: bytes, token_key_id: bytes) -> bytes:
    """The bytes the issuer signs blindly (RFC 9577 §2.2.3, RFC 9578 §6.1 token_input).

    token_type (0x0002) || nonce || challenge_digest || token_key_id.
    """
    _check_bytes(nonce, NONCE_LEN, "nonce")
    _check_bytes(challenge_digest, DIGEST_LEN, "challenge_digest")
    _check_bytes(token_key_id, NID, "token_key_id")
    return TOKEN_TYPE_BLIND_RSA.to_bytes(2, "big") + nonce + challenge_digest + token_key_id


@dataclass(frozen=True, slots=True)
class Token:
    """A type 0x0002 Token (RFC 9577 §2.2.1 with Nid = 32, Nk = 256)."""

    token_type: ClassVar[int] = TOKEN_TYPE_BLIND_RSA
    nonce: bytes
    challenge_digest: bytes
    token_key_id: bytes
    authenticator: bytes

    def __post_init__(self) -> None:
        _check_bytes(self.nonce, NONCE_LEN, "nonce")
        _check_bytes(self.challenge_digest, DIGEST_LEN, "challenge_digest")
        _check_bytes(self.token_key_id, NID, "token_key_id")
        _check_bytes(self.authenticator, NK, "authenticator")

    def authenticator_input(self) -> bytes:
        return token_authenticator_input(self.nonce, self.challenge_digest, self.token_key_id)

    def encode(self) -> bytes:
        return self.authenticator_input() + self.authenticator

    @classmethod
    def decode(cls, data: bytes) -> Token:
        reader = _Reader(data)
        token_type = reader.uint(2, "token_type")
        if token_type != TOKEN_TYPE_BLIND_RSA:
            raise DecodeError(f"unsupported token type 0x{token_type:04x}")
        token = cls(
            nonce=reader.take(NONCE_LEN, "nonce"),
            challenge_digest=reader.take(DIGEST_LEN, "challenge_digest"),
            token_key_id=reader.take(NID, "token_key_id"),
            authenticator=reader.take(NK, "authenticator"),
        )
        reader.finish("Token")
        return token


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """TokenRequest for type 0x0002 (RFC 9578 §6.1)."""

    token_type: ClassVar[int] = TOKEN_TYPE_BLIND_RSA
    truncated_token_key_id: int
    blinded_msg: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.truncated_token_key_id, int) or not (
            0 <= self.truncated_token_key_id <= 0xFF
        ):
            raise ValueError("truncated_token_key_id is a uint8")
        _check_bytes(self.blinded_msg, NK, "blinded_msg")

    def encode(self) -> bytes:
        return (
            TOKEN_TYPE_BLIND_RSA.to_bytes(2, "big")
            + self.truncated_token_key_id.to_bytes(1, "big")
            + self.blinded_msg
        )

    @classmethod
    def decode(cls, data: bytes) -> TokenRequest:
        """Strict: an unsupported token type or a blinded_msg of the wrong size is a DecodeError
        (the issuer answers both with 422, RFC 9578 §6.2)."""
        reader = _Reader(data)
        token_type = reader.uint(2, "token_type")
        if token_type != TOKEN_TYPE_BLIND_RSA:
            raise DecodeError(f"unsupported token type 0x{token_type:04x}")
        if len(data) != _TOKEN_REQUEST_LEN:
            raise DecodeError(f"a type 0x0002 TokenRequest is {_TOKEN_REQUEST_LEN} bytes")
        request = cls(reader.uint(1, "truncated_token_key_id"), reader.take(NK, "blinded_msg"))
        reader.finish("TokenRequest")
        return request


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """TokenResponse for type 0x0002 (RFC 9578 §6.2): just the blind signature."""

    blind_sig: bytes

    def __post_init__(self) -> None:
        _check_bytes(self.blind_sig, NK, "blind_sig")

    def encode(self) -> bytes:
        return self.blind_sig

    @classmethod
    def decode(cls, data: bytes) -> TokenResponse:
        reader = _Reader(data)
        response = cls(reader.take(NK, "blind_sig"))
        reader.finish("TokenResponse")
        return response


# --- the issuer key (RFC 9578 §6.5) ----------------------------------------------------------


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


def _read_tlv(reader: _Reader, tag: int, what: str) -> bytes:
    if reader.uint(1, what) != tag:
        raise DecodeError(f"{what}: unexpected DER tag")
    first = reader.uint(1, f"length of {what}")
    if first < 0x80:
        return reader.take(first, what)
    size = first & 0x7F
    if not 1 <= size <= 2:  # nothing in a 2048-bit key SPKI needs more than 65535 bytes
        raise DecodeError(f"{what}: unsupported DER length")
    return reader.take(reader.uint(size, f"length of {what}"), what)


def _read_positive_integer(reader: _Reader, what: str) -> int:
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
        reader = _Reader(der)
        outer = _Reader(_read_tlv(reader, _SEQUENCE, "SubjectPublicKeyInfo"))
        reader.finish("SubjectPublicKeyInfo")
        if outer.take(len(_PSS_ALGORITHM), "algorithm") != _PSS_ALGORITHM:
            raise DecodeError("token-key is not RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48")
        bits = _read_tlv(outer, _BIT_STRING, "subjectPublicKey")
        outer.finish("SubjectPublicKeyInfo")
        if not bits or bits[0] != 0:
            raise DecodeError("subjectPublicKey must have no unused bits")
        key_reader = _Reader(bits[1:])
        fields = _Reader(_read_tlv(key_reader, _SEQUENCE, "RSAPublicKey"))
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


# --- issuance: client and issuer (RFC 9578 §6) -----------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class TokenRequestState:
    """What the client keeps, secretly, between TokenRequest and TokenResponse (RFC 9578 §6.1)."""

    token_key: TokenKey
    nonce: bytes
    challenge_digest: bytes
    blind_inv: int

    def token_input(self) -> bytes:
        return token_authenticator_input(
            self.nonce, self.challenge_digest, self.token_key.token_key_id
        )


def build_token_request(
    challenge: TokenChallenge | bytes,
    token_key: TokenKey,
    *,
    nonce: bytes | None = None,
    randomness: blind_rsa.BlindingRandomness | None = None,
) -> tuple[TokenRequest, TokenRequestState]:
    """Client: a TokenRequest for `challenge` under `token_key` (RFC 9578 §6.1).

    `challenge` may be the encoded bytes exactly as received, which are what the digest covers.
    `nonce` and `randomness` fix the random values for known-answer tests only.
    """
    encoded = challenge.encode() if isinstance(challenge, TokenChallenge) else challenge
    try:
        token_type = TokenChallenge.decode(encoded).token_type
    except DecodeError as exc:
        raise ValueError(f"not a TokenChallenge: {exc}") from None
    if token_type != TOKEN_TYPE_BLIND_RSA:
        raise ValueError(f"challenge is for token type 0x{token_type:04x}, not 0x0002")
    if nonce is None:
        nonce = secrets.token_bytes(NONCE_LEN)
    digest = challenge_digest(encoded)
    token_input = token_authenticator_input(nonce, digest, token_key.token_key_id)
    blinded_msg, inv = blind_rsa.blind(
        token_key.public_key,
        blind_rsa.prepare(token_input, variant=VARIANT),
        variant=VARIANT,
        randomness=randomness,
    )
    request = TokenRequest(token_key.truncated_token_key_id, blinded_msg)
    return request, TokenRequestState(token_key, nonce, digest, inv)


def sign_token_request(
    signing_key: blind_rsa.BlindSigningKey, request: TokenRequest
) -> TokenResponse:
    """Issuer: BlindSign the request (RFC 9578 §6.2).

    The caller has already picked `signing_key` by request.truncated_token_key_id. Raises
    blind_rsa.InvalidBlindedMessage for a blinded_msg not below the modulus.
    """
    if signing_key.modulus_len != NK:
        raise ValueError(f"a type 0x0002 signing key has a {MODULUS_BITS}-bit modulus")
    return TokenResponse(signing_key.blind_sign(request.blinded_msg))


def finalize_token(response: TokenResponse, state: TokenRequestState) -> Token:
    """Client: unblind the issuer's answer into a Token, verifying it first (RFC 9578 §6.3)."""
    try:
        authenticator = blind_rsa.finalize(
            state.token_key.public_key,
            blind_rsa.prepare(state.token_input(), variant=VARIANT),
            response.blind_sig,
            state.blind_inv,
            variant=VARIANT,
        )
    except blind_rsa.VerificationError:
        raise InvalidToken("the issuer's response does not give a valid token") from None
    return Token(state.nonce, state.challenge_digest, state.token_key.token_key_id, authenticator)


def verify_token(token: Token, token_key: TokenKey) -> None:
    """Origin: check the token's authenticator under `token_key` (RFC 9578 §6.4).

    A plain RSASSA-PSS verification (SHA-384, MGF1-SHA-384, salt 48) by `cryptography`.
    Checking that token.challenge_digest belongs to a challenge this origin issued, and that
    the token was not spent before, is the caller's job. Raises InvalidToken.
    """
    if token.token_key_id != token_key.token_key_id:
        raise InvalidToken("the token names another issuer key")
    try:
        blind_rsa.verify(
            token_key.public_key, token.authenticator_input(), token.authenticator, variant=VARIANT
        )
    except blind_rsa.VerificationError:
        raise InvalidToken("the token authenticator does not verify") from None


# --- base64url and the PrivateToken HTTP authentication scheme (RFC 9577 §2) -----------------

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


@dataclass(frozen=True, slots=True)
class PrivateTokenChallenge:
    """One `PrivateToken` challenge of a WWW-Authenticate field (RFC 9577 §2.1.2).

    `challenge` is the encoded TokenChallenge exactly as sent: the token's challenge_digest is
    the SHA-256 of these bytes, and challenges for token types we do not know still parse.
    `token_key` is the raw issuer key encoding (for type 0x0002, TokenKey.spki).
    """

    challenge: bytes
    token_key: bytes | None = None
    max_age: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.challenge, bytes) or not isinstance(self.token_key, bytes | None):
            raise TypeError("challenge and token_key are bytes")
        if self.max_age is not None and (
            isinstance(self.max_age, bool) or not isinstance(self.max_age, int) or self.max_age < 0
        ):
            raise ValueError("max-age is a non-negative number of seconds")

    def token_challenge(self) -> TokenChallenge:
        return TokenChallenge.decode(self.challenge)


def build_www_authenticate(*challenges: PrivateTokenChallenge) -> str:
    """The WWW-Authenticate field value for one or more challenges (RFC 9577 §2.1.2, §2.1.2.1)."""
    if not challenges:
        raise ValueError("at least one challenge")
    rendered = []
    for item in challenges:
        params = [f'challenge="{b64url_encode(item.challenge)}"']
        if item.token_key is not None:
            params.append(f'token-key="{b64url_encode(item.token_key)}"')
        if item.max_age is not None:
            params.append(f"max-age={item.max_age}")
        rendered.append("PrivateToken " + ", ".join(params))
    return ", ".join(rendered)


def parse_www_authenticate(value: str) -> list[PrivateTokenChallenge]:
    """The PrivateToken challenges of a WWW-Authenticate field value (RFC 9577 §2.1.2).

    Other schemes and unknown parameters are ignored, as RFC 9577 requires; a field that is not
    valid RFC 9110 §11.6.1 syntax, or a PrivateToken challenge without a `challenge` parameter,
    is a DecodeError.
    """
    found = []
    for challenge in _parse_auth_field(value):
        if challenge.scheme.lower() != "privatetoken":
            continue
        params = _private_token_params(challenge)
        if "challenge" not in params:
            raise DecodeError("PrivateToken challenge without a challenge parameter")
        token_key = params.get("token-key")
        max_age = params.get("max-age")
        found.append(
            PrivateTokenChallenge(
                challenge=b64url_decode(params["challenge"]),
                token_key=None if token_key is None else b64url_decode(token_key),
                max_age=None if max_age is None else _delta_seconds(max_age),
            )
        )
    return found


def build_authorization(token: Token | bytes) -> str:
    """The Authorization field value carrying a token (RFC 9577 §2.2.2)."""
    raw = token.encode() if isinstance(token, Token) else token
    return f'PrivateToken token="{b64url_encode(raw)}"'


# The form every client sends (build_authorization's): one credential, one quoted parameter
# of base64url. Matched at once it yields what the general parser yields (tests/fuzz compares
# the two), which walks the field a character at a time: a tenth of a redemption's CPU.
_CANONICAL_AUTHORIZATION: Final = re.compile(
    r'(?i:privatetoken) +(?i:token)[ \t]*=[ \t]*"([A-Za-z0-9_=-]*)"[ \t]*'
)


def parse_authorization(value: str) -> bytes:
    """The encoded Token of an `Authorization: PrivateToken token="..."` value (RFC 9577 §2.2.2).

    Returns the raw token bytes (decode them with Token.decode); unknown parameters are ignored.
    """
    canonical = _CANONICAL_AUTHORIZATION.fullmatch(value) if isinstance(value, str) else None
    if canonical is not None:
        return b64url_decode(canonical[1])
    return parse_authorization_field(value)


def parse_authorization_field(value: str) -> bytes:
    """:func:`parse_authorization` by the general RFC 9110 parser alone (any valid form)."""
    credentials = _parse_auth_field(value)
    if len(credentials) != 1:
        raise DecodeError("an Authorization field carries exactly one credential")
    (credential,) = credentials
    if credential.scheme.lower() != "privatetoken":
        raise DecodeError("not PrivateToken credentials")
    params = _private_token_params(credential)
    if "token" not in params:
        raise DecodeError("PrivateToken credentials without a token parameter")
    return b64url_decode(params["token"])


def _private_token_params(challenge: _AuthChallenge) -> dict[str, str]:
    if challenge.token68 is not None:
        raise DecodeError("PrivateToken takes auth-params, not a token68")
    return challenge.params


def _delta_seconds(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        raise DecodeError("max-age must be a number of seconds")
    return int(text)


# RFC 9110 §5.6.2 tchar, and the token68 alphabet of §11.2.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_TOKEN68_CHAR = frozenset("-._~+/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_OWS = " \t"
# qdtext (RFC 9110 §5.6.4): HTAB, SP, VCHAR but '"' and '\\', obs-text. A quoted-string with
# no quoted-pair is one run of these and its closing quote — matched in one step, since the
# character loop below costs about a microsecond a character and a token is 430 of them.
_QDTEXT_RUN = re.compile(r"[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]*")


def _is_quotable(char: str) -> bool:
    """HTAB, SP, VCHAR or obs-text: what qdtext and quoted-pair admit (RFC 9110 §5.6.4).

    '"' and '\\' are handled by the caller before this check applies to qdtext.
    """
    return char in _OWS or 0x21 <= ord(char) <= 0x7E or 0x80 <= ord(char) <= 0xFF


@dataclass(frozen=True, slots=True)
class _AuthChallenge:
    scheme: str
    params: dict[str, str]  # names lower-cased: they match case-insensitively (RFC 9110 §11.2)
    token68: str | None = None


class _AuthFieldParser:
    """A strict parser for RFC 9110 §11.6.1/§11.6.2 challenge and credentials lists.

    challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param = token BWS "=" BWS ( token / quoted-string )
    """

    __slots__ = ("_pos", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0

    def _at_end(self) -> bool:
        return self._pos >= len(self._text)

    def _peek(self) -> str:
        return "" if self._at_end() else self._text[self._pos]

    def _skip_ows(self) -> None:
        while self._peek() and self._peek() in _OWS:
            self._pos += 1

    def _skip_separators(self) -> None:
        # The #rule allows empty list elements (RFC 9110 §5.6.1.2).
        while self._peek() and (self._peek() in _OWS or self._peek() == ","):
            self._pos += 1

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            raise DecodeError(f"expected {char!r} at offset {self._pos}")
        self._pos += 1

    def _token(self, what: str) -> str:
        start = self._pos
        while self._peek() and self._peek() in _TCHAR:
            self._pos += 1
        if self._pos == start:
            raise DecodeError(f"expected {what} at offset {start}")
        return self._text[start : self._pos]

    def _quoted_string(self) -> str:
        self._expect('"')
        run = _QDTEXT_RUN.match(self._text, self._pos)
        end = run.end() if run else self._pos
        if end < len(self._text) and self._text[end] == '"':
            value = self._text[self._pos : end]
            self._pos = end + 1
            return value
        chars: list[str] = []
        while True:
            char = self._peek()
            if not char:
                raise DecodeError("unterminated quoted-string")
            self._pos += 1
            if char == '"':
                return "".join(chars)
            if char == "\\":
                char = self._peek()
                if not char or not _is_quotable(char):
                    raise DecodeError("bad quoted-pair")
                self._pos += 1
            elif not _is_quotable(char):
                raise DecodeError("control character in quoted-string")
            chars.append(char)

    def _try_token68(self) -> str | None:
        """A token68 stands alone: it runs to the end of the field or to the next comma."""
        start = end = self._pos
        while end < len(self._text) and self._text[end] in _TOKEN68_CHAR:
            end += 1
        if end == start:
            return None
        while end < len(self._text) and self._text[end] == "=":
            end += 1
        after = end
        while after < len(self._text) and self._text[after] in _OWS:
            after += 1
        if after < len(self._text) and self._text[after] != ",":
            return None
        self._pos = after
        return self._text[start:end]

    def _next_is_auth_param(self) -> bool:
        """After a comma: `name =` continues this challenge, anything else starts the next."""
        saved = self._pos
        try:
            if not self._peek() or self._peek() not in _TCHAR:
                return False
            self._token("auth-param name")
            self._skip_ows()
            return self._peek() == "="
        finally:
            self._pos = saved

    def parse(self) -> list[_AuthChallenge]:
        challenges: list[_AuthChallenge] = []
        while True:
            self._skip_separators()
            if self._at_end():
                return challenges
            scheme = self._token("auth-scheme")
            if self._at_end() or self._peek() == ",":
                challenges.append(_AuthChallenge(scheme, {}))
                continue
            if self._peek() != " ":
                raise DecodeError(f"expected a space after the auth-scheme {scheme!r}")
            self._skip_ows()
            if self._at_end() or self._peek() == ",":
                challenges.append(_AuthChallenge(scheme, {}))
                continue
            token68 = self._try_token68()
            if token68 is not None:
                challenges.append(_AuthChallenge(scheme, {}, token68))
                continue
            challenges.append(_AuthChallenge(scheme, self._auth_params()))

    def _auth_params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        while True:
            name = self._token("auth-param name").lower()
            self._skip_ows()
            self._expect("=")
            self._skip_ows()
            value = self._quoted_string() if self._peek() == '"' else self._token("value")
            if name in params:
                # RFC 9110 §11.2: each parameter name MUST only occur once per challenge.
                raise DecodeError(f"parameter {name!r} appears twice")
            params[name] = value
            self._skip_ows()
            if self._at_end():
                return params
            self._expect(",")
            self._skip_separators()
            if self._at_end() or not self._next_is_auth_param():
                return params


def _parse_auth_field(value: str) -> list[_AuthChallenge]:
    if not isinstance(value, str):
        raise DecodeError("a header field value is a str")
    return _AuthFieldParser(value).parse()
