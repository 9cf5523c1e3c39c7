"""Issuance for token type 0x0002: the client, the issuer and the origin (RFC 9578 §6)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from phoenix.crypto import blind_rsa
from phoenix.crypto.privacypass.errors import DecodeError, InvalidToken
from phoenix.crypto.privacypass.structures import (
    NK,
    NONCE_LEN,
    TOKEN_TYPE_BLIND_RSA,
    Token,
    TokenChallenge,
    TokenRequest,
    TokenResponse,
    challenge_digest,
    token_authenticator_input,
)
from phoenix.crypto.privacypass.token_key import MODULUS_BITS, VARIANT, TokenKey


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
