"""Redemption checks: every way a token can be wrong is a 401 with a fresh challenge.

Tokens are real: the test blind-signs them with its own RSA-2048 keys through phoenix.crypto,
exactly as a client and the issuer would (RFC 9578 §6).
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from phoenix.config.directory import DirectoryEntry, IssuerDirectory, IssuerDirectoryUnavailable
from phoenix.config.settings import ConfigSettings
from phoenix.config.tokens import (
    TOKEN_LEN,
    TokenRejected,
    accepted_digests,
    challenge,
    challenge_header,
    parse_and_verify,
    token_digest,
    www_authenticate,
)
from phoenix.crypto.blind_rsa import BlindSigningKey
from phoenix.crypto.privacypass.base64url import b64url_encode
from phoenix.crypto.privacypass.headers import build_authorization, parse_www_authenticate
from phoenix.crypto.privacypass.issuance import (
    build_token_request,
    finalize_token,
    sign_token_request,
)
from phoenix.crypto.privacypass.structures import Token, TokenChallenge
from phoenix.crypto.privacypass.token_key import TokenKey

SETTINGS = ConfigSettings(
    env="test",
    nodedb_url="postgresql://unused/phoenix_nodes",
    issuer_name="issuer.test",
    origin_name="vpn.test",
)
CHALLENGE = challenge(SETTINGS)
DIGESTS = accepted_digests(CHALLENGE)


@functools.cache
def private_key(index: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def token_key(index: int) -> TokenKey:
    return TokenKey(private_key(index).public_key())


def mint(index: int = 0, for_challenge: TokenChallenge = CHALLENGE) -> Token:
    """Run issuance end to end: the client blinds, the issuer signs blindly, the client unblinds."""
    request, state = build_token_request(for_challenge, token_key(index))
    response = sign_token_request(BlindSigningKey(private_key(index)), request)
    return finalize_token(response, state)


# A key in the middle of its life: in effect since yesterday, accepted for 32 more days.
NOT_BEFORE = int(time.time()) - 86_400
LIFE = 33 * 86_400


def directory(*indexes: int) -> IssuerDirectory:
    return IssuerDirectory(
        "https://issuer.test/v1/tokens",
        tuple(DirectoryEntry(token_key(index), NOT_BEFORE, NOT_BEFORE + LIFE) for index in indexes),
    )


class NoCopyYet:
    """An issuer directory that has not been fetched yet."""

    def ready(self) -> bool:
        return False

    def entry_for(self, token_key_id: bytes, now: float | None = None) -> DirectoryEntry | None:
        return None

    def keys(self) -> list[TokenKey]:
        return []

    def preferred_key(self, now: float | None = None) -> TokenKey | None:
        return None


def verify(header: str | None, keys: IssuerDirectory | None = None) -> Token:
    return parse_and_verify(header, keys or directory(0), DIGESTS, CHALLENGE)


def refused(header: str | None, keys: IssuerDirectory | None = None) -> TokenRejected:
    with pytest.raises(TokenRejected) as caught:
        verify(header, keys)
    return caught.value


def assert_fresh_challenge(problem: TokenRejected, key: TokenKey | None = None) -> None:
    """401, and a WWW-Authenticate a client can fetch a new token with right away."""
    assert problem.status == 401
    assert problem.document().type.endswith("/invalid-token")
    (offered,) = parse_www_authenticate(problem.headers["WWW-Authenticate"])
    assert offered.challenge == CHALLENGE.encode()
    assert offered.token_key == (key or token_key(0)).spki


def test_the_challenge_names_the_configured_issuer_and_origin_for_token_type_2() -> None:
    assert TokenChallenge(2, "issuer.test", b"", "vpn.test") == CHALLENGE
    assert accepted_digests(CHALLENGE) == {hashlib.sha256(CHALLENGE.encode()).digest()}


def test_a_valid_token_passes_and_comes_back_decoded() -> None:
    token = mint()
    assert verify(build_authorization(token)) == token


def test_a_token_under_any_listed_key_passes_not_only_the_preferred_one() -> None:
    token = mint(1)
    assert verify(build_authorization(token), directory(0, 1)) == token


def test_the_token_digest_is_the_sha256_of_the_encoded_token_not_the_token() -> None:
    token = mint()
    assert token_digest(token) == hashlib.sha256(token.encode()).digest()
    assert token_digest(token) != token.encode()


@pytest.mark.parametrize("header", [None, "", "   "])
def test_a_missing_header_is_refused_with_a_challenge_and_no_error_code(
    header: str | None,
) -> None:
    problem = refused(header)
    assert problem.reason == "missing"
    assert_fresh_challenge(problem)
    assert "error=" not in problem.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer abc",
        "PrivateToken",
        'PrivateToken tokn="AAAA"',
        "PrivateToken AAAA",
        'PrivateToken token="AAAA", PrivateToken token="AAAA"',
        'PrivateToken token="AAAA", token="AAAA"',
        'PrivateToken token="unterminated',
    ],
)
def test_a_malformed_header_is_refused_with_a_challenge(header: str) -> None:
    problem = refused(header)
    assert problem.reason == "malformed"
    assert_fresh_challenge(problem)
    assert 'error="invalid-token"' in problem.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "garble",
    [
        lambda text: text + "==",  # padding where none belongs
        lambda text: "+" + text[1:],  # the standard alphabet, not base64url
        lambda text: text[:8] + " " + text[8:],  # whitespace inside the value
        lambda text: "%%%%" + text[4:],  # not base64 at all
    ],
    ids=["stray-padding", "standard-alphabet", "whitespace", "not-base64"],
)
def test_bad_base64_is_refused_with_a_challenge(garble: Callable[[str], str]) -> None:
    problem = refused(f'PrivateToken token="{garble(b64url_encode(mint().encode()))}"')
    assert problem.reason == "malformed"
    assert "base64" in str(problem.detail)
    assert_fresh_challenge(problem)


def test_another_token_type_is_refused_with_a_challenge() -> None:
    raw = b"\x00\x01" + mint().encode()[2:]
    problem = refused(f'PrivateToken token="{b64url_encode(raw)}"')
    assert problem.reason == "token-type"
    assert_fresh_challenge(problem)


@pytest.mark.parametrize("cut", [1, 100, TOKEN_LEN - 1, TOKEN_LEN + 1])
def test_a_token_of_the_wrong_length_is_refused_with_a_challenge(cut: int) -> None:
    raw = (mint().encode() + b"\x00")[:cut]
    problem = refused(f'PrivateToken token="{b64url_encode(raw)}"')
    assert problem.reason == "length"
    assert_fresh_challenge(problem)


def test_a_token_under_a_key_the_issuer_does_not_list_is_refused_with_a_challenge() -> None:
    problem = refused(build_authorization(mint(1)), directory(0))
    assert problem.reason == "unknown-key"
    assert_fresh_challenge(problem)


def test_a_token_whose_signature_does_not_verify_is_refused_with_a_challenge() -> None:
    token = mint()
    forged = Token(
        token.nonce,
        token.challenge_digest,
        token.token_key_id,
        token.authenticator[:-1] + bytes([token.authenticator[-1] ^ 1]),
    )
    problem = refused(build_authorization(forged))
    assert problem.reason == "signature"
    assert_fresh_challenge(problem)


def test_a_token_with_a_changed_nonce_no_longer_verifies() -> None:
    token = mint()
    moved = Token(bytes(32), token.challenge_digest, token.token_key_id, token.authenticator)
    assert refused(build_authorization(moved)).reason == "signature"


def test_a_token_for_another_origins_challenge_is_refused_with_a_challenge() -> None:
    foreign = TokenChallenge(2, "issuer.test", b"", "elsewhere.test")
    problem = refused(build_authorization(mint(for_challenge=foreign)))
    assert problem.reason == "challenge"
    assert_fresh_challenge(problem)


def test_a_token_for_another_issuers_challenge_is_refused_even_under_a_listed_key() -> None:
    foreign = TokenChallenge(2, "other-issuer.test", b"", "vpn.test")
    assert refused(build_authorization(mint(for_challenge=foreign))).reason == "challenge"


def test_every_challenge_in_the_accepted_set_is_honoured() -> None:
    renamed = TokenChallenge(2, "issuer.test", b"", "vpn-old.test")
    token = mint(for_challenge=renamed)
    both = accepted_digests(CHALLENGE, renamed)
    assert parse_and_verify(build_authorization(token), directory(0), both, CHALLENGE) == token


def test_without_a_copy_of_the_issuer_directory_a_token_is_neither_accepted_nor_refused() -> None:
    with pytest.raises(IssuerDirectoryUnavailable) as caught:
        parse_and_verify(build_authorization(mint()), NoCopyYet(), DIGESTS, CHALLENGE)
    assert caught.value.status == 503
    assert caught.value.headers["Retry-After"]


def test_without_a_copy_a_missing_header_still_gets_a_challenge_without_a_key() -> None:
    with pytest.raises(TokenRejected) as caught:
        parse_and_verify(None, NoCopyYet(), DIGESTS, CHALLENGE)
    (offered,) = parse_www_authenticate(caught.value.headers["WWW-Authenticate"])
    assert offered.challenge == CHALLENGE.encode()
    assert offered.token_key is None


def test_the_challenge_header_offers_the_issuers_first_listed_key() -> None:
    (offered,) = parse_www_authenticate(challenge_header(CHALLENGE, directory(1, 0)))
    assert offered.token_key == token_key(1).spki


def test_the_challenge_header_skips_a_key_the_issuer_announced_for_later() -> None:
    announced = IssuerDirectory(
        "https://issuer.test/v1/tokens",
        (
            DirectoryEntry(token_key(1), 4_000_000_000, 4_000_000_000 + LIFE),
            DirectoryEntry(token_key(0), NOT_BEFORE, NOT_BEFORE + LIFE),
        ),
    )
    (offered,) = parse_www_authenticate(challenge_header(CHALLENGE, announced))
    assert offered.token_key == token_key(0).spki


def test_the_challenge_header_can_name_why_the_last_token_failed() -> None:
    value = www_authenticate(CHALLENGE, token_key(0), "token-spent")
    assert value.endswith(', error="token-spent"')
    (offered,) = parse_www_authenticate(value)
    assert offered.token_key == token_key(0).spki


def test_an_error_code_cannot_smuggle_header_syntax() -> None:
    with pytest.raises(ValueError, match="error"):
        www_authenticate(CHALLENGE, token_key(0), 'x", token-key="evil')
