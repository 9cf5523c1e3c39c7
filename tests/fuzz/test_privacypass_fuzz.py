"""Privacy Pass from outside bytes: mutated encodings fail only with DecodeError, what a decoder
accepts re-encodes to the very same bytes, and the config role's whole Authorization path turns
any header into a verified token or a 401 — never another exception.

Seeds are real: an RSA-2048 issuer key, a TokenChallenge and a token blind-signed with it.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
from collections.abc import Callable, Iterator
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix.config.directory import DirectoryEntry
from phoenix.config.tokens import TokenRejected, parse_and_verify, token_digest
from phoenix.crypto.batch import (
    decode_batch_request,
    decode_batch_response,
    decode_varint,
    encode_batch_request,
    encode_batch_response,
)
from phoenix.crypto.privacypass.base64url import b64url_decode, b64url_encode
from phoenix.crypto.privacypass.errors import DecodeError
from phoenix.crypto.privacypass.headers import (
    PrivateTokenChallenge,
    build_authorization,
    build_www_authenticate,
    parse_authorization,
    parse_authorization_field,
    parse_www_authenticate,
)
from phoenix.crypto.privacypass.structures import Token, TokenChallenge, TokenRequest, TokenResponse
from phoenix.crypto.privacypass.token_key import TokenKey
from tests.fuzz.budget import FUZZ
from tests.fuzz.mutations import mutated, mutated_text
from tests.harness.issuer import mint_tokens, private_keys

CHALLENGE = TokenChallenge(2, "issuer.phoenix.test", b"", "vpn.phoenix.test")
MAX_BATCH = 8


@cache
def token_key() -> TokenKey:
    return TokenKey(private_keys(1)[0].public_key())


@cache
def genuine_token() -> bytes:
    return mint_tokens(private_keys(1)[0], CHALLENGE)[0]


class OneKeyDirectory:
    """The issuer directory as redemption sees it: one fetched key."""

    def ready(self) -> bool:
        return True

    def entry_for(self, token_key_id: bytes, now: float | None = None) -> DirectoryEntry | None:
        if token_key_id != token_key().token_key_id:
            return None
        return DirectoryEntry(token_key(), 0, 2**40)

    def keys(self) -> list[TokenKey]:
        return [token_key()]

    def preferred_key(self, now: float | None = None) -> TokenKey | None:
        return token_key()


def seeds() -> dict[str, st.SearchStrategy[bytes]]:
    request = TokenRequest(token_key().truncated_token_key_id, bytes(range(256)))
    return {
        "challenge": st.sampled_from(
            [CHALLENGE.encode(), TokenChallenge(2, "i", b"\x07" * 32).encode()]
        ),
        "token": st.just(genuine_token()),
        "request": st.just(request.encode()),
        "response": st.just(TokenResponse(b"\x01" * 256).encode()),
        "key": st.just(token_key().spki),
        "batch_request": st.integers(1, 3)
        .map(lambda n: encode_batch_request([request] * n))
        .flatmap(lambda data: st.sampled_from([data, widened(data)])),
        "batch_response": st.lists(st.none() | st.just(b"\x02" * 256), min_size=1, max_size=3).map(
            encode_batch_response
        ),
    }


def widened(batch: bytes) -> bytes:
    """The same batch with its length in a longer varint than needed (which must be refused)."""
    length, offset = decode_varint(batch)
    return (length | 0xC0 << 56).to_bytes(8, "big") + batch[offset:]


DECODERS: dict[str, Callable[[bytes], object]] = {
    "challenge": TokenChallenge.decode,
    "token": Token.decode,
    "request": TokenRequest.decode,
    "response": TokenResponse.decode,
    "key": TokenKey.from_spki,
    "batch_request": lambda data: decode_batch_request(data, MAX_BATCH),
    "batch_response": decode_batch_response,
}


def encode(value: object) -> bytes:
    """The encoder matching each decoder: accepted input must come back byte for byte."""
    if isinstance(value, TokenKey):
        return value.spki
    if isinstance(value, list):
        if all(isinstance(item, TokenRequest) for item in value):
            return encode_batch_request(value)
        return encode_batch_response(value)
    assert isinstance(value, TokenChallenge | Token | TokenRequest | TokenResponse)
    return value.encode()


@pytest.mark.parametrize("codec", sorted(DECODERS))
def test_mutated_encodings_fail_only_with_decode_error_and_accepted_ones_are_canonical(
    codec: str,
) -> None:
    @FUZZ
    @given(mutated(seeds()[codec]))
    def check(data: bytes) -> None:
        try:
            value = DECODERS[codec](data)
        except DecodeError:
            return
        assert encode(value) == data

    check()


authorization_values = mutated_text(
    st.sampled_from(
        [
            build_authorization(b"\x00\x02" + b"\x00" * 10),
            'PrivateToken token="AAIA", extra=x',
            "Bearer abc, PrivateToken token=AAIA",
        ]
    )
)


@FUZZ
@given(authorization_values | st.text(max_size=80))
def test_authorization_headers_fail_only_with_decode_error(value: str) -> None:
    with contextlib.suppress(DecodeError):
        raw = parse_authorization(value)
        assert isinstance(raw, bytes)


def _outcome(parse: Callable[[str], bytes], value: str) -> bytes | str:
    try:
        return parse(value)
    except DecodeError:
        return "DecodeError"


# Fields near the canonical form: scheme and name case, spaces and tabs around '=' and after
# the value, unquoted values, escapes, other parameters, padding and alphabet slips — every
# combination (about 40,000; a few seconds), then mutations of them at random.
NEAR_CANONICAL_PARTS: tuple[tuple[str, ...], ...] = (
    ("PrivateToken", "privatetoken", "PRIVATETOKEN", " PrivateToken", "Bearer"),
    (" ", "  ", "\t"),
    ("token", "Token", "tokens", "challenge"),
    ("", " \t"),
    ("", " "),
    ('"', "", '\\"'),
    ("AAIA", "AAI", "AA+/", "AAIA==", "", "AA\\IA", 'AA"A'),
    ('"', "", '" ', '"\t', '", extra=1', '",', '" x'),
)


def near_canonical() -> Iterator[str]:
    for parts in itertools.product(*NEAR_CANONICAL_PARTS):
        yield "{}{}{}{}={}{}{}{}".format(*parts)


def test_the_canonical_fast_path_agrees_with_the_general_parser_on_every_near_form() -> None:
    for value in near_canonical():
        assert _outcome(parse_authorization, value) == _outcome(parse_authorization_field, value), (
            value
        )


@FUZZ
@given(mutated_text(st.sampled_from(list(itertools.islice(near_canonical(), 0, None, 97)))))
def test_the_canonical_fast_path_agrees_with_the_general_parser(value: str) -> None:
    assert _outcome(parse_authorization, value) == _outcome(parse_authorization_field, value)


@FUZZ
@given(
    mutated_text(
        st.sampled_from(
            [
                build_www_authenticate(
                    PrivateTokenChallenge(CHALLENGE.encode(), b"\x30\x82", 10),
                    PrivateTokenChallenge(b"\x00\x01\x00\x01a\x00\x00\x00", None, None),
                )
            ]
        )
    )
)
def test_www_authenticate_headers_fail_only_with_decode_error(value: str) -> None:
    with contextlib.suppress(DecodeError):
        for challenge in parse_www_authenticate(value):
            assert isinstance(challenge.challenge, bytes)


@FUZZ
@given(mutated_text(st.builds(lambda: b64url_encode(genuine_token()))) | st.text(max_size=40))
def test_base64url_accepts_only_its_canonical_form(text: str) -> None:
    try:
        data = b64url_decode(text)
    except DecodeError:
        return
    assert b64url_encode(data) == text


def redeem(authorization: str) -> Token | None:
    """parse_and_verify as the connect handler calls it; None for a 401."""
    try:
        return parse_and_verify(authorization, OneKeyDirectory(), {CHALLENGE.digest()}, CHALLENGE)
    except TokenRejected as rejected:
        problem = rejected
    assert problem.status == 401
    assert "PrivateToken" in problem.headers["WWW-Authenticate"]
    return None


def test_the_genuine_token_redeems_and_its_header_forms_are_the_seeds() -> None:
    token = redeem(build_authorization(genuine_token()))
    assert token is not None
    assert token.encode() == genuine_token()


@FUZZ
@given(
    mutated(st.builds(genuine_token), most=2).map(build_authorization)
    | mutated_text(st.builds(lambda: build_authorization(genuine_token())), most=3)
)
def test_any_authorization_header_is_a_verified_token_or_a_401(authorization: str) -> None:
    token = redeem(authorization)
    if token is not None:
        # Only the genuine token verifies: a changed byte anywhere breaks the signature.
        assert token_digest(token) == token_digest(Token.decode(genuine_token()))


def test_a_base64_body_of_the_genuine_token_without_padding_is_refused() -> None:
    unpadded = base64.urlsafe_b64encode(genuine_token()).decode().rstrip("=")
    if unpadded != b64url_encode(genuine_token()):
        assert redeem(f'PrivateToken token="{unpadded}"') is None
