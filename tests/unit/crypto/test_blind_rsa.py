"""RSA blind signatures (RFC 9474): the Appendix A vectors byte for byte, BlindSign's input
checks, blinding and fault safeguard on both private-key backends (OpenSSL's raw RSA through
`rsa_raw`, and gmpy2's constant-time CRT), and round trips for every variant."""

from __future__ import annotations

import copy
import gc
import json
import pickle
import secrets
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from phoenix.crypto import blind_rsa, rsa_raw
from phoenix.crypto.blind_rsa import (
    BACKENDS,
    RSABSSA_SHA384_PSS_DETERMINISTIC,
    RSABSSA_SHA384_PSS_RANDOMIZED,
    RSABSSA_SHA384_PSSZERO_DETERMINISTIC,
    RSABSSA_SHA384_PSSZERO_RANDOMIZED,
    Backend,
    BlindingError,
    BlindingRandomness,
    BlindSigningKey,
    EncodingError,
    InvalidBlindedMessage,
    SigningFailure,
    Variant,
    VerificationError,
)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc9474_appendix_a.json").read_text())[
    "vectors"
]
VARIANTS = {
    variant.name: variant
    for variant in (
        RSABSSA_SHA384_PSS_RANDOMIZED,
        RSABSSA_SHA384_PSSZERO_RANDOMIZED,
        RSABSSA_SHA384_PSS_DETERMINISTIC,
        RSABSSA_SHA384_PSSZERO_DETERMINISTIC,
    )
}
RSA_OPS = settings(max_examples=15, deadline=None, database=None)


def _hex(vector: dict[str, str], name: str) -> bytes:
    return bytes.fromhex(vector[name])


def _vector_key(vector: dict[str, str]) -> rsa.RSAPrivateKey:
    p, q, n, e, d = (int(vector[name], 16) for name in ("p", "q", "n", "e", "d"))
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e, n),
    )
    return numbers.private_key()


@cache
def _fresh_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def _fresh_signing_key(backend: Backend | None = None) -> BlindSigningKey:
    return BlindSigningKey(_fresh_key(), backend=backend)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every BlindSign test runs on both backends: OpenSSL's raw RSA and gmpy2's CRT."""
    chosen: Backend = request.param
    return chosen


vector_params = pytest.mark.parametrize(
    "vector", VECTORS, ids=[f"{v['rfc_section']} {v['variant']}" for v in VECTORS]
)


# --- RFC 9474 Appendix A, byte for byte ------------------------------------------------------


def test_the_vector_file_holds_all_four_variants() -> None:
    assert [v["variant"] for v in VECTORS] == list(VARIANTS)


@vector_params
def test_prepare_with_the_vector_prefix_gives_the_prepared_message(vector: dict[str, str]) -> None:
    variant = VARIANTS[vector["variant"]]
    prefix = _hex(vector, "msg_prefix") or None
    prepared = blind_rsa.prepare(_hex(vector, "msg"), variant=variant, msg_prefix=prefix)
    assert prepared == _hex(vector, "prepared_msg")


@vector_params
def test_emsa_pss_encoding_with_the_vector_salt_gives_the_encoded_message(
    vector: dict[str, str],
) -> None:
    n = int(vector["n"], 16)
    encoded = blind_rsa.emsa_pss_encode(
        _hex(vector, "prepared_msg"), n.bit_length() - 1, _hex(vector, "salt")
    )
    assert encoded == _hex(vector, "encoded_msg")


@vector_params
def test_blind_with_the_vector_salt_and_inverse_gives_the_blinded_message(
    vector: dict[str, str],
) -> None:
    randomness = BlindingRandomness(salt=_hex(vector, "salt"), inv=int(vector["inv"], 16))
    blinded_msg, inv = blind_rsa.blind(
        _vector_key(vector).public_key(),
        _hex(vector, "prepared_msg"),
        variant=VARIANTS[vector["variant"]],
        randomness=randomness,
    )
    assert blinded_msg == _hex(vector, "blinded_msg")
    assert inv == int(vector["inv"], 16)


@vector_params
def test_blind_sign_gives_the_vector_blind_signature(
    vector: dict[str, str], backend: Backend
) -> None:
    # RSA signing is deterministic, so the internal blind does not change the output.
    signing_key = BlindSigningKey(_vector_key(vector), backend=backend)
    assert signing_key.backend == backend
    assert signing_key.blind_sign(_hex(vector, "blinded_msg")) == _hex(vector, "blind_sig")


@vector_params
def test_finalize_gives_the_vector_signature(vector: dict[str, str]) -> None:
    sig = blind_rsa.finalize(
        _vector_key(vector).public_key(),
        _hex(vector, "prepared_msg"),
        _hex(vector, "blind_sig"),
        int(vector["inv"], 16),
        variant=VARIANTS[vector["variant"]],
    )
    assert sig == _hex(vector, "sig")


@vector_params
def test_the_vector_signature_verifies_as_plain_rsassa_pss(vector: dict[str, str]) -> None:
    # What RFC 9474 §4.5 promises: any RSASSA-PSS verifier accepts the finished signature.
    public_key = _vector_key(vector).public_key()
    variant = VARIANTS[vector["variant"]]
    public_key.verify(
        _hex(vector, "sig"),
        _hex(vector, "prepared_msg"),
        variant.pss_padding(),
        hashes.SHA384(),
    )


# --- Prepare ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant", [RSABSSA_SHA384_PSS_RANDOMIZED, RSABSSA_SHA384_PSSZERO_RANDOMIZED]
)
def test_randomized_prepare_adds_a_fresh_32_byte_prefix(variant: Variant) -> None:
    first = blind_rsa.prepare(b"msg", variant=variant)
    second = blind_rsa.prepare(b"msg", variant=variant)
    assert len(first) == 32 + 3
    assert first.endswith(b"msg")
    assert first != second


@pytest.mark.parametrize(
    "variant", [RSABSSA_SHA384_PSS_DETERMINISTIC, RSABSSA_SHA384_PSSZERO_DETERMINISTIC]
)
def test_deterministic_prepare_is_the_identity(variant: Variant) -> None:
    assert blind_rsa.prepare(b"msg", variant=variant) == b"msg"


def test_prepare_refuses_a_prefix_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        blind_rsa.prepare(b"msg", variant=RSABSSA_SHA384_PSS_RANDOMIZED, msg_prefix=b"short")


def test_emsa_pss_encode_refuses_a_modulus_too_small_for_hash_and_salt() -> None:
    with pytest.raises(EncodingError):
        blind_rsa.emsa_pss_encode(b"msg", 8 * (48 + 48 + 1), bytes(48))


# --- BlindSign: input checks, blinding, fault safeguard ----------------------------------------


def test_blind_sign_refuses_a_message_shorter_than_the_modulus(backend: Backend) -> None:
    with pytest.raises(InvalidBlindedMessage, match="size"):
        _fresh_signing_key(backend).blind_sign(bytes(255))


def test_blind_sign_refuses_a_message_longer_than_the_modulus(backend: Backend) -> None:
    with pytest.raises(InvalidBlindedMessage, match="size"):
        _fresh_signing_key(backend).blind_sign(bytes(257))


def test_blind_sign_refuses_an_empty_message(backend: Backend) -> None:
    with pytest.raises(InvalidBlindedMessage):
        _fresh_signing_key(backend).blind_sign(b"")


@pytest.mark.parametrize("offset", [0, 1, 12345])
def test_blind_sign_refuses_a_message_not_below_the_modulus(offset: int, backend: Backend) -> None:
    n = _fresh_key().public_key().public_numbers().n
    with pytest.raises(InvalidBlindedMessage, match="not below n"):
        _fresh_signing_key(backend).blind_sign((n + offset).to_bytes(256, "big"))


def test_blind_sign_refuses_the_all_ones_message(backend: Backend) -> None:
    with pytest.raises(InvalidBlindedMessage):
        _fresh_signing_key(backend).blind_sign(b"\xff" * 256)


@pytest.mark.parametrize("which", ["zero", "one", "n - 1"])
def test_blind_sign_accepts_the_edges_of_the_range(which: str, backend: Backend) -> None:
    public = _fresh_key().public_key().public_numbers()
    m = {"zero": 0, "one": 1, "n - 1": public.n - 1}[which]
    signature = _fresh_signing_key(backend).blind_sign(m.to_bytes(256, "big"))
    assert pow(int.from_bytes(signature, "big"), public.e, public.n) == m


def test_blind_sign_gives_the_same_signature_whatever_its_internal_blind(
    backend: Backend,
) -> None:
    # Each call blinds the exponentiation with a fresh r; RSA signing is deterministic, so equal
    # outputs show the blind is removed exactly.
    message = secrets.token_bytes(255).rjust(256, b"\x00")
    key = _fresh_signing_key(backend)
    assert key.blind_sign(message) == key.blind_sign(message)


def test_blind_sign_agrees_with_the_plain_rsa_private_operation(backend: Backend) -> None:
    numbers = _fresh_key().private_numbers()
    n = numbers.public_numbers.n
    m = secrets.randbelow(n)
    expected = pow(m, numbers.d, n).to_bytes(256, "big")
    assert _fresh_signing_key(backend).blind_sign(m.to_bytes(256, "big")) == expected


def test_blind_sign_never_exponentiates_the_clients_value_and_blinds_afresh_each_call(
    backend: Backend,
) -> None:
    key = BlindSigningKey(_fresh_key(), backend=backend)
    real = key._private_op
    seen: list[int] = []

    def spy(c: Any) -> Any:
        seen.append(int(c))
        return real(c)

    key._private_op = spy
    m = 12345
    first = key.blind_sign(m.to_bytes(256, "big"))
    second = key.blind_sign(m.to_bytes(256, "big"))
    assert first == second
    assert len(seen) == 2
    assert m not in seen
    assert seen[0] != seen[1]


def _flip_a_bit(operation: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A private-key operation with a fault: one flipped bit in its result."""

    def faulty(c: Any) -> Any:
        return operation(c) ^ (1 << 700)

    return faulty


def test_blind_sign_refuses_to_return_a_faulty_exponentiation(backend: Backend) -> None:
    # A fault in the exponentiation (a glitch, a flipped bit) would reveal a prime factor of n
    # (Boneh-DeMillo-Lipton) if the result left the server: the self-check must stop it.
    faulty = BlindSigningKey(_fresh_key(), backend=backend)
    faulty._private_op = _flip_a_bit(faulty._private_op)
    message = (12345).to_bytes(256, "big")
    with pytest.raises(SigningFailure) as excinfo:
        faulty.blind_sign(message)
    assert "12345" not in str(excinfo.value)


@pytest.mark.parametrize("component", ["_dp", "_dq", "_qinv", "_p"])
def test_gmp_blind_sign_refuses_to_return_a_signature_when_a_crt_parameter_is_faulty(
    component: str,
) -> None:
    # Simulates a fault (a flipped bit in memory) after the key was loaded.
    faulty = BlindSigningKey(_fresh_key(), backend="gmp")
    crt = faulty._private_op
    setattr(crt, component, getattr(crt, component) ^ 2)
    message = (12345).to_bytes(256, "big")
    with pytest.raises(SigningFailure) as excinfo:
        faulty.blind_sign(message)
    assert "12345" not in str(excinfo.value)


def test_openssl_blind_sign_turns_an_openssl_failure_into_a_signing_failure() -> None:
    class Refusing:
        size = 256

        def private_operation(self, value: bytes) -> bytes:
            raise rsa_raw.RawRSAError("EVP_PKEY_decrypt failed (error:02000084:rsa routines)")

    key = BlindSigningKey(_fresh_key(), backend="openssl")
    key._private_op._key = Refusing()  # type: ignore[attr-defined]
    with pytest.raises(SigningFailure, match="EVP_PKEY_decrypt"):
        key.blind_sign((12345).to_bytes(256, "big"))


def test_blind_sign_is_safe_from_many_threads_at_once(backend: Backend) -> None:
    key = _fresh_signing_key(backend)
    numbers = _fresh_key().private_numbers()
    n = numbers.public_numbers.n
    messages = [secrets.randbelow(n) for _ in range(24)]
    wrong: list[int] = []

    def work(offset: int) -> None:
        for index in range(offset, len(messages), 4):
            m = messages[index]
            signature = key.blind_sign(m.to_bytes(256, "big"))
            if signature != pow(m, numbers.d, n).to_bytes(256, "big"):
                wrong.append(index)

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_signing_key_refuses_inconsistent_crt_components(backend: Backend) -> None:
    numbers = _fresh_key().private_numbers()

    class Damaged:
        """A stand-in RSAPrivateKey whose CRT exponent was damaged before it reached us."""

        def private_numbers(self) -> Any:
            return rsa.RSAPrivateNumbers(
                p=numbers.p,
                q=numbers.q,
                d=numbers.d,
                dmp1=numbers.dmp1 ^ 2,
                dmq1=numbers.dmq1,
                iqmp=numbers.iqmp,
                public_numbers=numbers.public_numbers,
            )

        def public_key(self) -> rsa.RSAPublicKey:
            return _fresh_key().public_key()

    with pytest.raises(ValueError, match="inconsistent"):
        BlindSigningKey(Damaged(), backend=backend)  # type: ignore[arg-type]


def test_signing_key_repr_shows_no_key_material(backend: Backend) -> None:
    key = _fresh_signing_key(backend)
    numbers = _fresh_key().private_numbers()
    text = repr(key)
    assert text == f"BlindSigningKey(modulus_bits=2048, backend={backend})"
    assert repr(key._private_op) in {"_OpenSSLRaw()", "_GmpCrt()"}
    assert str(numbers.p) not in text
    assert f"{numbers.p:x}" not in text


def test_the_openssl_backend_keeps_no_private_integer_in_python() -> None:
    key = BlindSigningKey(_fresh_key(), backend="openssl")
    numbers = _fresh_key().private_numbers()
    secret = {numbers.p, numbers.q, numbers.d, numbers.dmp1, numbers.dmq1, numbers.iqmp}
    held = [getattr(key, name) for name in type(key).__slots__]
    operation: Any = key._private_op
    held += [getattr(operation, name) for name in type(operation).__slots__]
    assert not [value for value in held if isinstance(value, int) and int(value) in secret]


def test_the_signing_key_cannot_be_deep_copied_or_pickled_with_openssl() -> None:
    key = BlindSigningKey(_fresh_key(), backend="openssl")
    with pytest.raises(TypeError):
        copy.deepcopy(key)
    with pytest.raises(TypeError):
        pickle.dumps(key)


# --- backend choice ----------------------------------------------------------------------------


def test_openssl_is_the_default_backend_where_libcrypto_loads() -> None:
    # Debian's libssl3 is always present here: CPython's own ssl and hashlib link it.
    assert rsa_raw.available()
    assert blind_rsa.default_backend() == "openssl"
    assert BlindSigningKey(_fresh_key()).backend == "openssl"


def test_signing_falls_back_to_gmp_without_libcrypto(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> Any:
        raise rsa_raw.OpenSSLUnavailable("no usable libcrypto 3.x (test)")

    monkeypatch.setattr(rsa_raw, "load_libcrypto", unavailable)
    assert not rsa_raw.available()
    assert blind_rsa.default_backend() == "gmp"
    key = BlindSigningKey(_fresh_key())
    assert key.backend == "gmp"
    numbers = _fresh_key().private_numbers()
    n = numbers.public_numbers.n
    assert key.blind_sign((7).to_bytes(256, "big")) == pow(7, numbers.d, n).to_bytes(256, "big")
    with pytest.raises(rsa_raw.OpenSSLUnavailable):
        BlindSigningKey(_fresh_key(), backend="openssl")


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown backend"):
        BlindSigningKey(_fresh_key(), backend="python")  # type: ignore[arg-type]


# --- rsa_raw: OpenSSL's raw RSA private operation ----------------------------------------------


@cache
def _openssl_key() -> rsa_raw.OpenSSLPrivateKey:
    return rsa_raw.OpenSSLPrivateKey(_fresh_key())


def test_raw_private_operation_is_c_to_the_d_mod_n() -> None:
    numbers = _fresh_key().private_numbers()
    n = numbers.public_numbers.n
    for c in (0, 1, 2, n - 1, secrets.randbelow(n)):
        result = _openssl_key().private_operation(c.to_bytes(256, "big"))
        assert result == pow(c, numbers.d, n).to_bytes(256, "big")


@pytest.mark.parametrize("size", [0, 255, 257])
def test_raw_private_operation_refuses_input_of_the_wrong_size(size: int) -> None:
    with pytest.raises(rsa_raw.RawRSAError, match="256 bytes"):
        _openssl_key().private_operation(bytes(size))


def test_raw_private_operation_refuses_input_not_below_n_and_leaves_no_openssl_error() -> None:
    n = _fresh_key().public_key().public_numbers().n
    with pytest.raises(rsa_raw.RawRSAError, match="too large") as excinfo:
        _openssl_key().private_operation((n + 5).to_bytes(256, "big"))
    assert f"{n + 5:x}" not in str(excinfo.value)
    assert rsa_raw.load_libcrypto().lib.ERR_get_error() == 0


def test_raw_key_repr_shows_only_the_modulus_size() -> None:
    assert repr(_openssl_key()) == "OpenSSLPrivateKey(modulus_bits=2048)"


def test_raw_key_cannot_be_copied_or_pickled() -> None:
    for duplicate in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError, match="cannot be copied"):
            duplicate(_openssl_key())


def test_raw_key_frees_its_openssl_key_when_collected() -> None:
    key = rsa_raw.OpenSSLPrivateKey(_fresh_key())
    finalizer = key._finalizer
    assert finalizer.alive
    del key
    gc.collect()
    assert not finalizer.alive


def test_raw_key_works_for_other_modulus_sizes() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    numbers = private.private_numbers()
    key = rsa_raw.OpenSSLPrivateKey(private)
    assert key.size == 384
    c = secrets.randbelow(numbers.public_numbers.n)
    result = key.private_operation(c.to_bytes(384, "big"))
    assert result == pow(c, numbers.d, numbers.public_numbers.n).to_bytes(384, "big")


def test_libcrypto_reports_its_version() -> None:
    assert rsa_raw.libcrypto_version().startswith("OpenSSL 3.")


# --- Blind and Finalize ----------------------------------------------------------------------


def test_blind_refuses_a_blind_without_inverse() -> None:
    p = _fresh_key().private_numbers().p  # shares a factor with n
    with pytest.raises(BlindingError):
        blind_rsa.blind(
            _fresh_key().public_key(),
            b"msg",
            variant=RSABSSA_SHA384_PSS_DETERMINISTIC,
            randomness=BlindingRandomness(salt=bytes(48), inv=p),
        )


def test_blind_refuses_a_fixed_salt_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="48-byte salt"):
        blind_rsa.blind(
            _fresh_key().public_key(),
            b"msg",
            variant=RSABSSA_SHA384_PSS_DETERMINISTIC,
            randomness=BlindingRandomness(salt=bytes(32), inv=3),
        )


def test_blinding_the_same_message_twice_gives_unlinkable_requests() -> None:
    public_key = _fresh_key().public_key()
    first, first_inv = blind_rsa.blind(public_key, b"msg", variant=RSABSSA_SHA384_PSS_DETERMINISTIC)
    second, second_inv = blind_rsa.blind(
        public_key, b"msg", variant=RSABSSA_SHA384_PSS_DETERMINISTIC
    )
    assert first != second
    assert first_inv != second_inv


def test_finalize_refuses_a_blind_signature_of_the_wrong_size() -> None:
    public_key = _fresh_key().public_key()
    variant = RSABSSA_SHA384_PSS_DETERMINISTIC
    blinded_msg, inv = blind_rsa.blind(public_key, b"msg", variant=variant)
    blind_sig = _fresh_signing_key().blind_sign(blinded_msg)
    with pytest.raises(VerificationError, match="size"):
        blind_rsa.finalize(public_key, b"msg", blind_sig[1:], inv, variant=variant)


def test_finalize_refuses_a_signature_for_another_message() -> None:
    public_key = _fresh_key().public_key()
    variant = RSABSSA_SHA384_PSS_DETERMINISTIC
    blinded_msg, inv = blind_rsa.blind(public_key, b"msg", variant=variant)
    blind_sig = _fresh_signing_key().blind_sign(blinded_msg)
    with pytest.raises(VerificationError):
        blind_rsa.finalize(public_key, b"other", blind_sig, inv, variant=variant)


def test_a_signature_for_one_variant_does_not_verify_as_another() -> None:
    # RFC 9474 §6.2: one key per variant; the salt length is part of what verifies.
    public_key = _fresh_key().public_key()
    blinded_msg, inv = blind_rsa.blind(public_key, b"msg", variant=RSABSSA_SHA384_PSS_DETERMINISTIC)
    sig = blind_rsa.finalize(
        public_key,
        b"msg",
        _fresh_signing_key().blind_sign(blinded_msg),
        inv,
        variant=RSABSSA_SHA384_PSS_DETERMINISTIC,
    )
    with pytest.raises(VerificationError):
        blind_rsa.verify(public_key, b"msg", sig, variant=RSABSSA_SHA384_PSSZERO_DETERMINISTIC)


def test_verify_refuses_a_signature_of_the_wrong_length() -> None:
    with pytest.raises(VerificationError):
        blind_rsa.verify(
            _fresh_key().public_key(),
            b"msg",
            bytes(255),
            variant=RSABSSA_SHA384_PSS_DETERMINISTIC,
        )


# --- properties ------------------------------------------------------------------------------


@RSA_OPS
@given(msg=st.binary(max_size=512), variant=st.sampled_from(list(VARIANTS.values())))
def test_any_message_round_trips_through_blind_sign_and_finalize(
    msg: bytes, variant: Variant
) -> None:
    public_key = _fresh_key().public_key()
    prepared = blind_rsa.prepare(msg, variant=variant)
    blinded_msg, inv = blind_rsa.blind(public_key, prepared, variant=variant)
    sig = blind_rsa.finalize(
        public_key, prepared, _fresh_signing_key().blind_sign(blinded_msg), inv, variant=variant
    )
    blind_rsa.verify(public_key, prepared, sig, variant=variant)


@RSA_OPS
@given(data=st.data())
def test_any_single_byte_change_to_a_signature_fails_verification(data: st.DataObject) -> None:
    vector = VECTORS[2]  # A.3, RSABSSA-SHA384-PSS-Deterministic
    sig = bytearray(_hex(vector, "sig"))
    index = data.draw(st.integers(0, len(sig) - 1), label="index")
    sig[index] ^= data.draw(st.integers(1, 255), label="xor")
    with pytest.raises(VerificationError):
        blind_rsa.verify(
            _vector_key(vector).public_key(),
            _hex(vector, "prepared_msg"),
            bytes(sig),
            variant=RSABSSA_SHA384_PSS_DETERMINISTIC,
        )


@RSA_OPS
@given(data=st.data())
def test_any_single_byte_change_to_a_blind_signature_fails_finalize(data: st.DataObject) -> None:
    vector = VECTORS[0]  # A.1, RSABSSA-SHA384-PSS-Randomized
    blind_sig = bytearray(_hex(vector, "blind_sig"))
    index = data.draw(st.integers(0, len(blind_sig) - 1), label="index")
    blind_sig[index] ^= data.draw(st.integers(1, 255), label="xor")
    with pytest.raises(VerificationError):
        blind_rsa.finalize(
            _vector_key(vector).public_key(),
            _hex(vector, "prepared_msg"),
            bytes(blind_sig),
            int(vector["inv"], 16),
            variant=RSABSSA_SHA384_PSS_RANDOMIZED,
        )
