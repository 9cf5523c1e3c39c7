"""RSA blind signatures (RFC 9474): the Appendix A vectors byte for byte, BlindSign's input
checks and fault safeguard, and round trips for every variant."""

from __future__ import annotations

import json
import secrets
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from phoenix.crypto import blind_rsa
from phoenix.crypto.blind_rsa import (
    RSABSSA_SHA384_PSS_DETERMINISTIC,
    RSABSSA_SHA384_PSS_RANDOMIZED,
    RSABSSA_SHA384_PSSZERO_DETERMINISTIC,
    RSABSSA_SHA384_PSSZERO_RANDOMIZED,
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
def _fresh_signing_key() -> BlindSigningKey:
    return BlindSigningKey(_fresh_key())


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
def test_blind_sign_gives_the_vector_blind_signature(vector: dict[str, str]) -> None:
    signing_key = BlindSigningKey(_vector_key(vector))
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


def test_blind_sign_refuses_a_message_shorter_than_the_modulus() -> None:
    with pytest.raises(InvalidBlindedMessage, match="size"):
        _fresh_signing_key().blind_sign(bytes(255))


def test_blind_sign_refuses_a_message_longer_than_the_modulus() -> None:
    with pytest.raises(InvalidBlindedMessage, match="size"):
        _fresh_signing_key().blind_sign(bytes(257))


def test_blind_sign_refuses_an_empty_message() -> None:
    with pytest.raises(InvalidBlindedMessage):
        _fresh_signing_key().blind_sign(b"")


@pytest.mark.parametrize("offset", [0, 1, 12345])
def test_blind_sign_refuses_a_message_not_below_the_modulus(offset: int) -> None:
    n = _fresh_key().public_key().public_numbers().n
    with pytest.raises(InvalidBlindedMessage, match="not below n"):
        _fresh_signing_key().blind_sign((n + offset).to_bytes(256, "big"))


def test_blind_sign_refuses_the_all_ones_message() -> None:
    with pytest.raises(InvalidBlindedMessage):
        _fresh_signing_key().blind_sign(b"\xff" * 256)


def test_blind_sign_accepts_the_largest_message_below_the_modulus() -> None:
    public = _fresh_key().public_key().public_numbers()
    signature = _fresh_signing_key().blind_sign((public.n - 1).to_bytes(256, "big"))
    assert pow(int.from_bytes(signature, "big"), public.e, public.n) == public.n - 1


def test_blind_sign_gives_the_same_signature_whatever_its_internal_blind() -> None:
    # Each call blinds the exponentiation with a fresh r; RSA signing is deterministic, so equal
    # outputs show the blind is removed exactly.
    message = secrets.token_bytes(255).rjust(256, b"\x00")
    key = _fresh_signing_key()
    assert key.blind_sign(message) == key.blind_sign(message)


def test_blind_sign_agrees_with_the_plain_rsa_private_operation() -> None:
    numbers = _fresh_key().private_numbers()
    n = numbers.public_numbers.n
    m = secrets.randbelow(n)
    expected = pow(m, numbers.d, n).to_bytes(256, "big")
    assert _fresh_signing_key().blind_sign(m.to_bytes(256, "big")) == expected


@pytest.mark.parametrize("component", ["_dp", "_dq", "_qinv", "_p"])
def test_blind_sign_refuses_to_return_a_signature_when_a_crt_parameter_is_faulty(
    component: str,
) -> None:
    # Simulates a fault (a flipped bit in memory) after the key was loaded: a faulty CRT half
    # would reveal a prime factor of n (Boneh-DeMillo-Lipton), so nothing may come out.
    faulty = BlindSigningKey(_fresh_key())
    setattr(faulty, component, getattr(faulty, component) ^ 2)
    message = (12345).to_bytes(256, "big")
    with pytest.raises(SigningFailure) as excinfo:
        faulty.blind_sign(message)
    assert "12345" not in str(excinfo.value)


def test_signing_key_refuses_inconsistent_crt_components() -> None:
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
        BlindSigningKey(Damaged())  # type: ignore[arg-type]


def test_signing_key_repr_shows_no_key_material() -> None:
    key = _fresh_signing_key()
    numbers = _fresh_key().private_numbers()
    text = repr(key)
    assert text == "BlindSigningKey(modulus_bits=2048)"
    assert str(numbers.p) not in text
    assert f"{numbers.p:x}" not in text


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
