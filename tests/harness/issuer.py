"""Issuer keys for tests: RSA-2048 bundles made once per session (key generation is slow)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import rsa

from phoenix.auth.keys import SigningKey, generate, render_key

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
# The default not-before: a day before this session, well inside a key's signing life (30 days).
RECENT = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)


@functools.cache
def _pool(size: int) -> tuple[rsa.RSAPrivateKey, ...]:
    made: list[SigningKey] = []
    for _ in range(size):
        made.append(generate(made, LONG_AGO))
    return tuple(key.private_key for key in made)


def private_keys(count: int) -> tuple[rsa.RSAPrivateKey, ...]:
    """``count`` distinct keys whose truncated ids differ, the same ones every call."""
    return _pool(4)[:count]


def bundle(*not_before: datetime) -> str:
    """A PEM bundle with one key per given not-before (default: one key valid since yesterday)."""
    moments = not_before or (RECENT,)
    return "".join(
        render_key(key, moment)
        for key, moment in zip(private_keys(len(moments)), moments, strict=True)
    )


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


class DirectoryServer:
    """A static RFC 9578 issuer directory on loopback, listing the given keys in order.

    Stands in for the auth role where a test exercises the config role alone (config learns
    keys only over HTTP, so a directory served from the same keys is the same to it)."""

    def __init__(
        self,
        keys: tuple[rsa.RSAPrivateKey, ...],
        not_before: datetime | tuple[datetime, ...] = RECENT,
    ) -> None:
        import http.server
        import json
        import threading

        from phoenix.crypto.privacypass.token_key import TokenKey

        starts = not_before if isinstance(not_before, tuple) else (not_before,) * len(keys)
        body = json.dumps(
            {
                "issuer-request-uri": "/v1/tokens",
                "token-keys": [
                    {
                        "token-type": 2,
                        "token-key": TokenKey(key.public_key()).to_base64url(),
                        "not-before": int(start.timestamp()),
                    }
                    for key, start in zip(keys, starts, strict=True)
                ],
            }
        ).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/private-token-issuer-directory")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/.well-known/private-token-issuer-directory"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def mint_tokens(key: rsa.RSAPrivateKey, challenge: object, count: int = 1) -> list[bytes]:
    """Real type-2 tokens for ``challenge``, blind-signed with ``key`` as the issuer would."""
    from phoenix.crypto.blind_rsa import BlindSigningKey
    from phoenix.crypto.privacypass.issuance import (
        build_token_request,
        finalize_token,
        sign_token_request,
    )
    from phoenix.crypto.privacypass.structures import TokenChallenge
    from phoenix.crypto.privacypass.token_key import TokenKey

    assert isinstance(challenge, TokenChallenge)
    signer = BlindSigningKey(key)
    token_key = TokenKey(key.public_key())
    made = []
    for _ in range(count):
        request, state = build_token_request(challenge, token_key)
        made.append(finalize_token(sign_token_request(signer, request), state).encode())
    return made
