"""RSA blind signatures (RFC 9474, RSABSSA) with SHA-384, as Privacy Pass token type 2 uses them.

Client side: `prepare`, `blind`, `finalize` and `verify` (RFC 9474 §4.1, §4.2, §4.4, §4.5).
Server side: `BlindSigningKey.blind_sign` (RFC 9474 §4.3). It rejects malformed input, blinds the
private-key exponentiation with a fresh random factor, computes it in constant time with the CRT
and checks its own result before returning it, because a faulty CRT signature hands out the
factorisation of the modulus (RFC 9474 §7.1). The exponentiation itself is OpenSSL's raw RSA
private operation on the system libcrypto (`phoenix.crypto.rsa_raw`; measured at about 0.8x of
`openssl speed rsa2048` sign/s including our blinding and check), or, where libcrypto 3.x cannot
be loaded, GMP's `mpz_powm_sec` through gmpy2 (about 0.33x).

Pure functions over bytes: no I/O, no framework.
"""

from __future__ import annotations

import functools
import hashlib
import math
import secrets
from dataclasses import dataclass
from typing import Any, Literal, Protocol

# gmpy2 2.3 ships no type hints (no py.typed); "unused-ignore" keeps mypy quiet if a project-wide
# override for gmpy2 is added later.
import gmpy2  # type: ignore[import-untyped, unused-ignore]
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from phoenix.crypto import rsa_raw

__all__ = [
    "BACKENDS",
    "MSG_PREFIX_LEN",
    "RSABSSA_SHA384_PSSZERO_DETERMINISTIC",
    "RSABSSA_SHA384_PSSZERO_RANDOMIZED",
    "RSABSSA_SHA384_PSS_DETERMINISTIC",
    "RSABSSA_SHA384_PSS_RANDOMIZED",
    "Backend",
    "BlindRSAError",
    "BlindSigningKey",
    "BlindingError",
    "BlindingRandomness",
    "EncodingError",
    "InvalidBlindedMessage",
    "InvalidInput",
    "SigningFailure",
    "Variant",
    "VerificationError",
    "blind",
    "default_backend",
    "emsa_pss_encode",
    "finalize",
    "prepare",
    "verify",
]

_HASH_LEN = 48  # SHA-384 output size (hLen in RFC 8017)
MSG_PREFIX_LEN = 32  # PrepareRandomize prefix, RFC 9474 §4.1


class BlindRSAError(Exception):
    """Base class of every error raised by this module."""


class EncodingError(BlindRSAError):
    """EMSA-PSS-ENCODE failed: the modulus is too small for the hash and salt (RFC 8017 §9.1.1)."""


class InvalidInput(BlindRSAError):
    """Blind: the encoded message is not co-prime with n ("invalid input", RFC 9474 §4.2)."""


class BlindingError(BlindRSAError):
    """Blind: the given blind has no inverse modulo n ("blinding error", RFC 9474 §4.2)."""


class InvalidBlindedMessage(BlindRSAError):
    """BlindSign: the blinded message has the wrong size or is not below n (RFC 9474 §4.3)."""


class SigningFailure(BlindRSAError):
    """BlindSign: the private-key result failed its own check ("signing failure", RFC 9474 §4.3).

    Nothing derived from the faulty computation is returned or included in the message.
    """


class VerificationError(BlindRSAError):
    """Finalize or verify: the signature is not a valid RSASSA-PSS signature (RFC 9474 §4.4)."""


@dataclass(frozen=True, slots=True)
class Variant:
    """A named RSABSSA variant (RFC 9474 §5): SHA-384, MGF1-SHA-384, a salt length, a Prepare."""

    name: str
    salt_length: int
    randomized: bool

    def pss_padding(self) -> padding.PSS:
        """The RSASSA-PSS parameters a standard verifier needs for this variant."""
        return padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=self.salt_length)


RSABSSA_SHA384_PSS_RANDOMIZED = Variant("RSABSSA-SHA384-PSS-Randomized", _HASH_LEN, True)
RSABSSA_SHA384_PSSZERO_RANDOMIZED = Variant("RSABSSA-SHA384-PSSZERO-Randomized", 0, True)
# The variant RFC 9578 §6 prescribes for Privacy Pass token type 2: the token nonce already
# makes every signed message unique, so no random prefix is added.
RSABSSA_SHA384_PSS_DETERMINISTIC = Variant("RSABSSA-SHA384-PSS-Deterministic", _HASH_LEN, False)
RSABSSA_SHA384_PSSZERO_DETERMINISTIC = Variant("RSABSSA-SHA384-PSSZERO-Deterministic", 0, False)


@dataclass(frozen=True, slots=True, repr=False)
class BlindingRandomness:
    """A fixed PSS salt and blind inverse, so the RFC 9474 Appendix A vectors can be replayed.

    For known-answer tests only: RFC 9474 §7.4 says these values must come from a CSPRNG and
    that clients should not be able to choose them. Production callers pass no randomness.
    """

    salt: bytes
    inv: int


def prepare(msg: bytes, *, variant: Variant, msg_prefix: bytes | None = None) -> bytes:
    """Prepare (RFC 9474 §4.1): identity, or a fresh 32-byte random prefix for Randomized variants.

    `msg_prefix` fixes the prefix for known-answer tests only.
    """
    if not variant.randomized:
        if msg_prefix:
            raise ValueError(f"{variant.name} prepares messages without a prefix")
        return msg
    if msg_prefix is None:
        msg_prefix = secrets.token_bytes(MSG_PREFIX_LEN)
    elif len(msg_prefix) != MSG_PREFIX_LEN:
        raise ValueError(f"msg_prefix must be {MSG_PREFIX_LEN} bytes")
    return msg_prefix + msg


def emsa_pss_encode(msg: bytes, em_bits: int, salt: bytes) -> bytes:
    """EMSA-PSS-ENCODE with SHA-384 and MGF1-SHA-384 (RFC 8017 §9.1.1)."""
    em_len = (em_bits + 7) // 8
    if em_len < _HASH_LEN + len(salt) + 2:
        raise EncodingError("encoding error: the modulus is too small for SHA-384 and this salt")
    m_hash = hashlib.sha384(msg).digest()
    h = hashlib.sha384(bytes(8) + m_hash + salt).digest()
    db = bytes(em_len - len(salt) - _HASH_LEN - 2) + b"\x01" + salt
    mask = _mgf1_sha384(h, len(db))
    masked_db = bytearray(
        (int.from_bytes(db, "big") ^ int.from_bytes(mask, "big")).to_bytes(len(db))
    )
    # Clear the bits above em_bits so the encoded message is below the modulus.
    masked_db[0] &= 0xFF >> (8 * em_len - em_bits)
    return bytes(masked_db) + h + b"\xbc"


def _mgf1_sha384(seed: bytes, length: int) -> bytes:
    """MGF1 with SHA-384 (RFC 8017 Appendix B.2.1)."""
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha384(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:length])


def _modulus(public_key: rsa.RSAPublicKey) -> tuple[int, int, int]:
    numbers = public_key.public_numbers()
    return numbers.n, numbers.e, (numbers.n.bit_length() + 7) // 8


def blind(
    public_key: rsa.RSAPublicKey,
    msg: bytes,
    *,
    variant: Variant,
    randomness: BlindingRandomness | None = None,
) -> tuple[bytes, int]:
    """Blind (RFC 9474 §4.2): encode `msg` (already prepared) and blind it for the server.

    Returns (blinded_msg, inv); the client keeps `inv` secret for `finalize`.
    """
    n, e, modulus_len = _modulus(public_key)
    if randomness is None:
        salt = secrets.token_bytes(variant.salt_length)
    else:
        salt = randomness.salt
        if len(salt) != variant.salt_length:
            raise ValueError(f"{variant.name} uses a {variant.salt_length}-byte salt")
    # emBits = modBits - 1, as RSASSA-PSS-SIGN does (RFC 8017 §8.1.1), so a standard RSASSA-PSS
    # verifier accepts the unblinded signature.
    encoded_msg = emsa_pss_encode(msg, n.bit_length() - 1, salt)
    m = int.from_bytes(encoded_msg, "big")
    if math.gcd(m, n) != 1:
        raise InvalidInput("invalid input: the encoded message is not co-prime with n")
    if randomness is None:
        r, inv = _random_blind(n)
    else:
        inv = randomness.inv
        try:
            r = pow(inv, -1, n)
        except ValueError:
            raise BlindingError("blinding error: the blind has no inverse modulo n") from None
    z = m * pow(r, e, n) % n
    return z.to_bytes(modulus_len, "big"), inv


def _random_blind(n: int) -> tuple[int, int]:
    """A uniform r in [1, n) with its inverse; RFC 9474 §4.2 says to retry a non-invertible r."""
    while True:
        r = secrets.randbelow(n - 1) + 1
        try:
            return r, pow(r, -1, n)
        except ValueError:
            continue  # r shares a factor with n: negligible, and harmless to draw again


def finalize(
    public_key: rsa.RSAPublicKey,
    msg: bytes,
    blind_sig: bytes,
    inv: int,
    *,
    variant: Variant,
) -> bytes:
    """Finalize (RFC 9474 §4.4): unblind the server's answer and verify it before returning it."""
    n, _, modulus_len = _modulus(public_key)
    if len(blind_sig) != modulus_len:
        raise VerificationError(f"unexpected input size: blind_sig must be {modulus_len} bytes")
    s = int.from_bytes(blind_sig, "big") * inv % n
    sig = s.to_bytes(modulus_len, "big")
    verify(public_key, msg, sig, variant=variant)
    return sig


_PREHASHED_SHA384 = utils.Prehashed(hashes.SHA384())


@functools.cache
def _pss_padding(variant: Variant) -> padding.PSS:
    return variant.pss_padding()


def verify(public_key: rsa.RSAPublicKey, msg: bytes, sig: bytes, *, variant: Variant) -> None:
    """RSASSA-PSS-VERIFY (RFC 8017 §8.1.2) as RFC 9474 §4.5 prescribes, by `cryptography`.

    The message is hashed by `hashlib` and handed over as its SHA-384 digest (`Prehashed`):
    EMSA-PSS-VERIFY only ever uses mHash = SHA-384(M), and this spares `cryptography` setting up
    a hash context on every call (a few per cent of a token verification).
    """
    if len(sig) != (public_key.key_size + 7) // 8:
        raise VerificationError("invalid signature: wrong length")
    try:
        public_key.verify(
            sig, hashlib.sha384(msg).digest(), _pss_padding(variant), _PREHASHED_SHA384
        )
    except InvalidSignature:
        raise VerificationError("invalid signature") from None


Backend = Literal["openssl", "gmp"]
"""How BlindSigningKey computes the private-key exponentiation.

- "openssl": OpenSSL's raw RSA private operation on the system libcrypto 3.x (`rsa_raw`):
  CRT with constant-time Montgomery exponentiation, OpenSSL's own blinding and CRT check.
- "gmp": Garner's CRT with GMP's constant-time `mpz_powm_sec` through gmpy2; the fallback
  where libcrypto cannot be loaded, about half as fast.
"""

BACKENDS: tuple[Backend, ...] = ("openssl", "gmp")


class _PrivateOperation(Protocol):
    """c^d mod n for 0 <= c < n (RSADP/RSASP1, RFC 8017 §5.1.2), on gmpy2 integers."""

    def __call__(self, c: Any, /) -> Any: ...


class _GmpCrt:
    """c^d mod n by Garner's CRT (RFC 8017 §5.1.2), constant-time in the secret exponents."""

    __slots__ = ("_dp", "_dq", "_p", "_q", "_qinv")

    def __init__(self, p: int, q: int, dp: int, dq: int, qinv: int) -> None:
        self._p = gmpy2.mpz(p)
        self._q = gmpy2.mpz(q)
        self._dp = gmpy2.mpz(dp)
        self._dq = gmpy2.mpz(dq)
        self._qinv = gmpy2.mpz(qinv)

    def __repr__(self) -> str:
        return "_GmpCrt()"

    def __call__(self, c: Any, /) -> Any:
        s_p = gmpy2.powmod_sec(c % self._p, self._dp, self._p)
        s_q = gmpy2.powmod_sec(c % self._q, self._dq, self._q)
        h = self._qinv * (s_p - s_q) % self._p
        return s_q + self._q * h


class _OpenSSLRaw:
    """c^d mod n by OpenSSL (`rsa_raw.OpenSSLPrivateKey`); Python holds no private component."""

    __slots__ = ("_key", "_size")

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self._key = rsa_raw.OpenSSLPrivateKey(private_key)
        self._size = self._key.size

    def __repr__(self) -> str:
        return "_OpenSSLRaw()"

    def __call__(self, c: Any, /) -> Any:
        try:
            result = self._key.private_operation(int(c).to_bytes(self._size, "big"))
        except rsa_raw.RawRSAError as exc:
            # OpenSSL's reason code only: never the operand or anything derived from the key.
            raise SigningFailure(f"signing failure: {exc}") from None
        return gmpy2.mpz(int.from_bytes(result, "big"))


def default_backend() -> Backend:
    """ "openssl" where the system libcrypto 3.x can be loaded, else "gmp"."""
    return "openssl" if rsa_raw.available() else "gmp"


class BlindSigningKey:
    """An RSA private key prepared once for BlindSign.

    Built from a `cryptography` RSAPrivateKey; holds no reference to it. With the "openssl"
    backend (the default where libcrypto 3.x loads) the private key lives only in OpenSSL; with
    "gmp" its CRT components are gmpy2 integers. Either way `repr` shows only the modulus size
    and the backend, so the key cannot end up in a log line by accident.
    """

    __slots__ = ("_backend", "_e", "_modulus_len", "_n", "_private_op", "_public_key")

    # gmpy2 integers (mpz); typed Any because gmpy2 ships no type hints.
    _n: Any
    _e: Any

    def __init__(self, private_key: rsa.RSAPrivateKey, *, backend: Backend | None = None) -> None:
        """`backend` None picks `default_backend()`; naming one that cannot load raises
        rsa_raw.OpenSSLUnavailable (for "openssl") or ValueError (for an unknown name)."""
        if backend is None:
            backend = default_backend()
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
        numbers = private_key.private_numbers()
        n, e = numbers.public_numbers.n, numbers.public_numbers.e
        p, q = numbers.p, numbers.q
        dp, dq, qinv = numbers.dmp1, numbers.dmq1, numbers.iqmp
        # Refuse a key whose CRT components disagree: signing with one would always fail the
        # self-check below, and it may mean the key material was damaged.
        if not (
            p * q == n
            and p % 2 == 1
            and q % 2 == 1
            and dp * e % (p - 1) == 1
            and dq * e % (q - 1) == 1
            and qinv * q % p == 1
        ):
            raise ValueError("inconsistent RSA CRT components")
        self._private_op: _PrivateOperation = (
            _OpenSSLRaw(private_key) if backend == "openssl" else _GmpCrt(p, q, dp, dq, qinv)
        )
        self._backend: Backend = backend
        self._n = gmpy2.mpz(n)
        self._e = gmpy2.mpz(e)
        self._modulus_len = (n.bit_length() + 7) // 8
        self._public_key = private_key.public_key()

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self._public_key

    @property
    def modulus_len(self) -> int:
        """kLen: the size in bytes of blinded messages and blind signatures."""
        return self._modulus_len

    @property
    def backend(self) -> Backend:
        return self._backend

    def __repr__(self) -> str:
        return f"BlindSigningKey(modulus_bits={int(self._n.bit_length())}, backend={self._backend})"

    def blind_sign(self, blinded_msg: bytes) -> bytes:
        """BlindSign (RFC 9474 §4.3): the RSA private-key operation on a blinded message.

        Raises InvalidBlindedMessage for input of the wrong size or not below n, and
        SigningFailure if the result does not verify (RFC 9474 §7.1 fault-attack safeguard) or
        the backend failed. Safe to call from many threads at once.
        """
        if len(blinded_msg) != self._modulus_len:
            raise InvalidBlindedMessage(
                f"unexpected input size: blinded_msg must be {self._modulus_len} bytes"
            )
        m = gmpy2.mpz(int.from_bytes(blinded_msg, "big"))
        if m >= self._n:
            raise InvalidBlindedMessage("message representative out of range: not below n")
        # RSA blinding of the exponentiation (Kocher, RFC 9474 §7.1): the secret exponents only
        # ever see m * r^e for a fresh random r, never a value the client chose. (OpenSSL blinds
        # once more inside, with its own factor.)
        r, r_inv = self._fresh_blind()
        s = self._private_op(m * gmpy2.powmod(r, self._e, self._n) % self._n)
        s = s * r_inv % self._n
        # Check s^e == m before anything leaves: a fault in either CRT half would otherwise
        # give the client gcd(s^e - m, n), a prime factor of n.
        if gmpy2.powmod(s, self._e, self._n) != m:
            raise SigningFailure("signing failure: the signature did not verify")
        return int(s).to_bytes(self._modulus_len, "big")

    def _fresh_blind(self) -> tuple[Any, Any]:
        while True:
            r = gmpy2.mpz(secrets.randbelow(int(self._n) - 1) + 1)
            try:
                return r, gmpy2.invert(r, self._n)
            except ZeroDivisionError:
                continue  # r shares a factor with n: negligible, draw again
