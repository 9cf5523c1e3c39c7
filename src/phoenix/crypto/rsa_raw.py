"""The raw RSA private-key operation (RSADP/RSASP1, RFC 8017 §5.1.2) by the system's OpenSSL.

`cryptography` offers RSA private-key operations only with a padding (PKCS #1 v1.5, OAEP, PSS),
but RFC 9474 BlindSign needs the bare c^d mod n of a value the client prepared. OpenSSL's
`EVP_PKEY_decrypt` with `RSA_NO_PADDING` is exactly that: the CRT exponentiation with
constant-time Montgomery arithmetic (`BN_mod_exp_mont_consttime`), OpenSSL's own RSA blinding,
and its own check of the CRT result. This module reaches it through `ctypes` in libcrypto 3.x
(on Debian, the `libssl3` package every Python build with `ssl`/`hashlib` already loads).

`load_libcrypto()` raises `OpenSSLUnavailable` when no suitable libcrypto is found; callers fall
back to another implementation. Memory rules followed throughout: every OpenSSL object is freed
(try/finally, and a finalizer for the long-lived key), every return code is checked, OpenSSL
only ever writes into buffers made with `ctypes.create_string_buffer`, and each call uses its
own `EVP_PKEY_CTX`, so one key serves any number of threads (ctypes releases the GIL during
the call). Error messages carry OpenSSL's reason codes, never key material.

Bytes in, bytes out; no I/O beyond loading the shared library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import weakref
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "OpenSSLPrivateKey",
    "OpenSSLUnavailable",
    "RawRSAError",
    "available",
    "libcrypto_version",
    "load_libcrypto",
]

_EVP_PKEY_RSA: Final = 6  # NID_rsaEncryption
_RSA_NO_PADDING: Final = 3
_OPENSSL_3: Final = 0x30000000
_ERR_BUF_LEN: Final = 256


class OpenSSLUnavailable(RuntimeError):
    """No libcrypto 3.x with the functions this module needs could be loaded."""


class RawRSAError(RuntimeError):
    """OpenSSL refused or failed a raw RSA operation (the message holds no key material)."""


class _LibCrypto:
    """The few libcrypto functions used here, with their C signatures declared."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        vp, c_int, c_long, size_t = ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_size_t
        c_char_p = ctypes.c_char_p
        uchar_pp = ctypes.POINTER(ctypes.c_void_p)
        signatures: dict[str, tuple[Any, list[Any]]] = {
            "OpenSSL_version_num": (ctypes.c_ulong, []),
            "OpenSSL_version": (ctypes.c_char_p, [c_int]),
            # EVP_PKEY *d2i_PrivateKey(int type, EVP_PKEY **a, const unsigned char **pp, long len)
            "d2i_PrivateKey": (vp, [c_int, vp, uchar_pp, c_long]),
            "EVP_PKEY_free": (None, [vp]),
            "EVP_PKEY_get_base_id": (c_int, [vp]),
            "EVP_PKEY_get_bits": (c_int, [vp]),
            "EVP_PKEY_get_size": (c_int, [vp]),
            # EVP_PKEY_CTX *EVP_PKEY_CTX_new_from_pkey(OSSL_LIB_CTX *, EVP_PKEY *, const char *)
            "EVP_PKEY_CTX_new_from_pkey": (vp, [vp, vp, ctypes.c_char_p]),
            "EVP_PKEY_CTX_free": (None, [vp]),
            "EVP_PKEY_decrypt_init": (c_int, [vp]),
            # A function (not a macro) since OpenSSL 3.0.
            "EVP_PKEY_CTX_set_rsa_padding": (c_int, [vp, c_int]),
            # int EVP_PKEY_decrypt(ctx, unsigned char *out, size_t *outlen,
            #                      const unsigned char *in, size_t inlen)
            "EVP_PKEY_decrypt": (c_int, [vp, c_char_p, ctypes.POINTER(size_t), c_char_p, size_t]),
            "ERR_get_error": (ctypes.c_ulong, []),
            "ERR_clear_error": (None, []),
            "ERR_error_string_n": (None, [ctypes.c_ulong, c_char_p, size_t]),
            "OPENSSL_cleanse": (None, [vp, size_t]),
        }
        for name, (restype, argtypes) in signatures.items():
            try:
                function = getattr(lib, name)
            except AttributeError:
                raise OpenSSLUnavailable(f"libcrypto lacks {name}") from None
            function.restype = restype
            function.argtypes = argtypes
        self.lib = lib
        version: int = lib.OpenSSL_version_num()
        if version < _OPENSSL_3:
            raise OpenSSLUnavailable(f"libcrypto 0x{version:08x} is older than 3.0")
        text: bytes | None = lib.OpenSSL_version(0)  # OPENSSL_VERSION
        self.version = (text or b"OpenSSL ?").decode("ascii", "replace")

    def drain_errors(self) -> str:
        """Empty this thread's OpenSSL error queue; return its first entry as text."""
        first: int = self.lib.ERR_get_error()
        text = ""
        if first:
            buf = ctypes.create_string_buffer(_ERR_BUF_LEN)
            self.lib.ERR_error_string_n(first, buf, _ERR_BUF_LEN)
            text = buf.value.decode("ascii", "replace")
        self.lib.ERR_clear_error()
        return text

    def fail(self, what: str) -> RawRSAError:
        reason = self.drain_errors()
        return RawRSAError(f"{what} failed" + (f" ({reason})" if reason else ""))


@functools.cache
def load_libcrypto() -> _LibCrypto:
    """The system libcrypto (3.x), loaded once; raises OpenSSLUnavailable."""
    name = ctypes.util.find_library("crypto")
    candidates = [name] if name else []
    candidates.append("libcrypto.so.3")
    errors = []
    for candidate in candidates:
        try:
            return _LibCrypto(ctypes.CDLL(candidate))
        except (OSError, OpenSSLUnavailable) as exc:
            errors.append(f"{candidate}: {exc}")
    raise OpenSSLUnavailable("no usable libcrypto 3.x: " + "; ".join(errors))


def libcrypto_version() -> str:
    """The loaded libcrypto's version text, e.g. "OpenSSL 3.0.19 27 Jan 2026"."""
    return load_libcrypto().version


def _free_pkey(lib: ctypes.CDLL, pkey: int) -> None:
    lib.EVP_PKEY_free(pkey)


class OpenSSLPrivateKey:
    """An RSA private key held by OpenSSL, for the raw private-key operation only.

    Built from a `cryptography` RSAPrivateKey through its DER encoding, which is wiped from the
    ctypes buffer it was copied into once OpenSSL has parsed it. The EVP_PKEY is freed when this
    object is collected. `repr` shows only the modulus size.
    """

    __slots__ = ("__weakref__", "_finalizer", "_libcrypto", "_modulus_bits", "_pkey", "_size")

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        libcrypto = load_libcrypto()
        lib = libcrypto.lib
        der = private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS #1 RSAPrivateKey
            serialization.NoEncryption(),
        )
        buf = ctypes.create_string_buffer(der, len(der))
        del der
        cursor = ctypes.c_void_p(ctypes.addressof(buf))  # d2i advances this, never writes buf
        lib.ERR_clear_error()
        try:
            pkey: int | None = lib.d2i_PrivateKey(
                _EVP_PKEY_RSA, None, ctypes.byref(cursor), len(buf)
            )
        finally:
            lib.OPENSSL_cleanse(buf, len(buf))
        if not pkey:
            raise libcrypto.fail("d2i_PrivateKey")
        modulus_bits = private_key.key_size
        size = (modulus_bits + 7) // 8
        found = (
            lib.EVP_PKEY_get_base_id(pkey),
            lib.EVP_PKEY_get_bits(pkey),
            lib.EVP_PKEY_get_size(pkey),
        )
        if found != (_EVP_PKEY_RSA, modulus_bits, size):
            lib.EVP_PKEY_free(pkey)
            raise RawRSAError("OpenSSL parsed the key as something else")
        self._libcrypto = libcrypto
        self._pkey = pkey
        self._modulus_bits = modulus_bits
        self._size = size
        self._finalizer = weakref.finalize(self, _free_pkey, lib, pkey)

    @property
    def size(self) -> int:
        """The modulus size in bytes: the length of every input and output."""
        return self._size

    def __repr__(self) -> str:
        return f"OpenSSLPrivateKey(modulus_bits={self._modulus_bits})"

    def __reduce__(self) -> str | tuple[Any, ...]:
        # A copy would share the EVP_PKEY pointer but not its finalizer: a use after free once
        # the original is collected. Pickling would carry the key out of the process.
        raise TypeError("an OpenSSLPrivateKey cannot be copied or pickled")

    def private_operation(self, value: bytes) -> bytes:
        """value^d mod n, big-endian, `size` bytes in and out (RSADP, RFC 8017 §5.1.2).

        OpenSSL itself refuses a value not below n; raises RawRSAError for that, for input of
        the wrong size and for any OpenSSL failure (its error queue is emptied first).
        """
        if len(value) != self._size:
            raise RawRSAError(f"input must be {self._size} bytes")
        lib = self._libcrypto.lib
        lib.ERR_clear_error()
        ctx: int | None = lib.EVP_PKEY_CTX_new_from_pkey(None, self._pkey, None)
        if not ctx:
            raise self._libcrypto.fail("EVP_PKEY_CTX_new_from_pkey")
        out = ctypes.create_string_buffer(self._size)
        try:
            if lib.EVP_PKEY_decrypt_init(ctx) != 1:
                raise self._libcrypto.fail("EVP_PKEY_decrypt_init")
            if lib.EVP_PKEY_CTX_set_rsa_padding(ctx, _RSA_NO_PADDING) <= 0:
                raise self._libcrypto.fail("EVP_PKEY_CTX_set_rsa_padding")
            out_len = ctypes.c_size_t(self._size)
            if lib.EVP_PKEY_decrypt(ctx, out, ctypes.byref(out_len), value, len(value)) != 1:
                raise self._libcrypto.fail("EVP_PKEY_decrypt")
            if out_len.value != self._size:
                raise RawRSAError("OpenSSL returned a result of the wrong size")
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
        return out.raw


def available() -> bool:
    """Whether a usable libcrypto 3.x can be loaded here."""
    try:
        load_libcrypto()
    except OpenSSLUnavailable:
        return False
    return True
