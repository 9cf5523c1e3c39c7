"""The issuer directory client against a real HTTP server the test runs on loopback.

The server plays the auth role's `/.well-known/private-token-issuer-directory`: it serves a
directory with an ETag, answers 304 to a matching If-None-Match, and can be switched to garbage,
to an error status, or shut down altogether.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from phoenix.config.directory import (
    InvalidDirectory,
    IssuerDirectoryClient,
    IssuerDirectoryUnavailable,
    KeyPolicy,
    parse_directory,
)
from phoenix.config.settings import ConfigSettings
from phoenix.crypto.privacypass.base64url import b64url_encode
from phoenix.crypto.privacypass.token_key import TokenKey
from phoenix.dev.probes import free_port

PATH = "/.well-known/private-token-issuer-directory"
# The keys below came into effect yesterday: well inside their life (30 days + 72 hours).
NOT_BEFORE = int(time.time()) - 86_400


@functools.cache
def token_key(index: int) -> TokenKey:
    return TokenKey(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())


def document(
    *keys: TokenKey, extra: list[dict[str, Any]] | None = None, not_before: int = NOT_BEFORE
) -> bytes:
    return json.dumps(
        {
            "issuer-request-uri": "https://issuer.test/v1/tokens",
            "token-keys": [
                *(extra or []),
                *(
                    {"token-type": 2, "token-key": key.to_base64url(), "not-before": not_before}
                    for key in keys
                ),
            ],
        }
    ).encode()


@dataclass
class Exchange:
    if_none_match: str | None
    status: int


@dataclass
class FakeIssuer:
    """What the server answers; the handler thread reads it, the test changes it."""

    body: bytes = b""
    status: int = 200
    exchanges: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'

    def publish(self, body: bytes, status: int = 200) -> None:
        with self.lock:
            self.body, self.status = body, status

    def statuses(self) -> list[int]:
        with self.lock:
            return [exchange.status for exchange in self.exchanges]


class Server:
    def __init__(self, issuer: FakeIssuer, port: int) -> None:
        self.issuer = issuer
        self.port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def start(self) -> None:
        issuer = self.issuer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with issuer.lock:
                    body, status, etag = issuer.body, issuer.status, issuer.etag
                    if_none_match = self.headers.get("If-None-Match")
                    if status == 200 and if_none_match == etag:
                        status, body = 304, b""
                    issuer.exchanges.append(Exchange(if_none_match, status))
                self.send_response(status)
                self.send_header("ETag", etag)
                self.send_header("Content-Type", "application/private-token-issuer-directory")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


@pytest.fixture
def issuer() -> FakeIssuer:
    return FakeIssuer(body=document(token_key(0)))


@pytest.fixture
def server(issuer: FakeIssuer) -> Iterator[Server]:
    running = Server(issuer, free_port())
    running.start()
    yield running
    running.stop()


def client_for(
    url: str,
    refresh_seconds: float = 3600.0,
    max_stale_refreshes: int = 10_000,
    policy: KeyPolicy | None = None,
) -> IssuerDirectoryClient:
    return IssuerDirectoryClient(
        url,
        refresh_seconds=refresh_seconds,
        timeout=2.0,
        retry_initial=0.05,
        retry_max=0.2,
        max_stale_refreshes=max_stale_refreshes,
        policy=policy or KeyPolicy(),
    )


@pytest.fixture
async def directory(server: Server) -> AsyncIterator[IssuerDirectoryClient]:
    async with client_for(server.url) as client:
        yield client


async def eventually(condition: Any, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_the_first_fetch_at_start_makes_the_client_ready_with_the_listed_keys(
    directory: IssuerDirectoryClient,
) -> None:
    assert directory.ready()
    assert directory.keys() == [token_key(0)]
    assert directory.key_for(token_key(0).token_key_id) == token_key(0)
    assert directory.key_for(bytes(32)) is None
    current = directory.current
    assert current is not None
    assert current.issuer_request_uri == "https://issuer.test/v1/tokens"
    await directory.probe()


async def test_an_unchanged_directory_is_answered_304_and_the_keys_are_kept(
    directory: IssuerDirectoryClient, issuer: FakeIssuer
) -> None:
    before = directory.current
    assert await directory.refresh()
    assert issuer.exchanges[-1] == Exchange(issuer.etag, 304)
    assert directory.current is before
    assert directory.keys() == [token_key(0)]


async def test_a_rotation_is_picked_up_on_the_next_refresh(
    directory: IssuerDirectoryClient, issuer: FakeIssuer
) -> None:
    issuer.publish(document(token_key(1), token_key(0)))
    assert await directory.refresh()
    assert issuer.statuses()[-1] == 200
    assert directory.keys() == [token_key(1), token_key(0)]
    assert directory.key_for(token_key(1).token_key_id) == token_key(1)
    issuer.publish(document(token_key(1)))
    assert await directory.refresh()
    assert directory.key_for(token_key(0).token_key_id) is None


async def test_the_background_loop_refreshes_on_its_own(server: Server, issuer: FakeIssuer) -> None:
    async with client_for(server.url, refresh_seconds=0.1) as directory:
        issuer.publish(document(token_key(1)))
        await eventually(lambda: directory.keys() == [token_key(1)])
        await eventually(lambda: confirmed_since_change(issuer.statuses()) >= 2)


def confirmed_since_change(statuses: list[int]) -> int:
    """How many 304s the server gave since it last sent a changed directory."""
    last_change = max(index for index, status in enumerate(statuses) if status == 200)
    return statuses[last_change + 1 :].count(304)


async def test_when_the_issuer_goes_away_the_last_good_copy_is_kept_and_still_ready(
    server: Server,
) -> None:
    async with client_for(server.url, refresh_seconds=0.1) as directory:
        server.stop()
        assert not await directory.refresh()
        await asyncio.sleep(0.3)  # several background retries fail meanwhile
        assert directory.ready()
        assert directory.keys() == [token_key(0)]
        await directory.probe()


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b'{"issuer-request-uri": "https://issuer.test/v1/tokens"}',
        b'{"issuer-request-uri": "x", "token-keys": "not a list"}',
        b'{"issuer-request-uri": "x", "token-keys": []}',
        b'{"issuer-request-uri": "x", "token-keys": [{"token-type": 2, "token-key": "AAAA"}]}',
    ],
    ids=["not-json", "no-keys-field", "keys-not-a-list", "empty", "only-an-undecodable-key"],
)
async def test_a_garbage_answer_keeps_the_last_good_copy(
    directory: IssuerDirectoryClient, issuer: FakeIssuer, body: bytes
) -> None:
    issuer.publish(body)
    assert not await directory.refresh()
    assert issuer.statuses()[-1] == 200
    assert directory.keys() == [token_key(0)]
    # Once the issuer serves a directory again, it is taken (the garbage's ETag was not kept).
    issuer.publish(document(token_key(1)))
    assert await directory.refresh()
    assert directory.keys() == [token_key(1)]


async def test_an_error_status_keeps_the_last_good_copy(
    directory: IssuerDirectoryClient, issuer: FakeIssuer
) -> None:
    issuer.publish(b'{"type": "internal-error"}', status=500)
    assert not await directory.refresh()
    assert directory.keys() == [token_key(0)]


async def test_an_issuer_that_was_never_reachable_leaves_the_client_not_ready() -> None:
    async with client_for(f"http://127.0.0.1:{free_port()}{PATH}") as directory:
        assert not directory.ready()
        assert directory.keys() == []
        assert directory.key_for(token_key(0).token_key_id) is None
        with pytest.raises(IssuerDirectoryUnavailable):
            await directory.probe()


async def test_a_client_that_started_without_its_issuer_keeps_retrying_until_it_is_ready(
    issuer: FakeIssuer,
) -> None:
    late = Server(issuer, free_port())
    async with client_for(late.url) as directory:
        assert not directory.ready()
        late.start()
        try:
            await eventually(directory.ready)
            assert directory.keys() == [token_key(0)]
        finally:
            late.stop()


async def test_entries_of_other_token_types_and_undecodable_keys_are_skipped(
    directory: IssuerDirectoryClient, issuer: FakeIssuer
) -> None:
    issuer.publish(
        document(
            token_key(1),
            extra=[
                {"token-type": 1, "token-key": b64url_encode(b"\x01" * 49)},
                {"token-type": 2, "token-key": b64url_encode(b"not a key")},
                {"token-type": 2, "token-key": "%%%"},
                {"token-type": "two"},
            ],
        )
    )
    assert await directory.refresh()
    assert directory.keys() == [token_key(1)]
    current = directory.current
    assert current is not None
    assert len(current.skipped) == 4


async def test_stop_ends_the_refresh_task_and_the_client_can_be_started_again(
    server: Server,
) -> None:
    client = client_for(server.url, refresh_seconds=0.05)
    await client.start()
    await client.stop()
    await client.stop()  # stopping twice is harmless
    await client.start()
    assert client.ready()
    await client.stop()


def test_the_client_follows_the_configured_url_and_refresh_interval() -> None:
    settings = ConfigSettings(
        env="test",
        nodedb_url="postgresql://unused/phoenix_nodes",
        issuer_directory_url="https://auth.test/.well-known/private-token-issuer-directory",
    )
    assert IssuerDirectoryClient.from_settings(settings).url == settings.issuer_directory_url


def test_a_directory_url_that_is_not_http_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="http"):
        IssuerDirectoryClient("auth.test/.well-known/private-token-issuer-directory")


def test_the_directory_the_auth_role_publishes_parses_with_its_keys_in_order() -> None:
    parsed = parse_directory(document(token_key(1), token_key(0)))
    assert parsed.keys() == [token_key(1), token_key(0)]
    assert parsed.preferred_key(now=NOT_BEFORE + 10) == token_key(1)


def test_the_preferred_key_is_the_first_listed_key_already_in_effect() -> None:
    body = json.dumps(
        {
            "issuer-request-uri": "https://issuer.test/v1/tokens",
            "token-keys": [
                {"token-type": 2, "token-key": token_key(1).to_base64url(), "not-before": 2_000},
                {"token-type": 2, "token-key": token_key(0).to_base64url(), "not-before": 1_000},
            ],
        }
    ).encode()
    parsed = parse_directory(body, KeyPolicy(life=10_000))
    assert parsed.preferred_key(now=1_500) == token_key(0)
    assert parsed.preferred_key(now=2_500) == token_key(1)
    assert parsed.preferred_key(now=500) == token_key(1)  # none in effect: the first listed


def test_a_body_with_no_usable_key_is_not_a_directory() -> None:
    with pytest.raises(InvalidDirectory):
        parse_directory(document(extra=[{"token-type": 1, "token-key": "AAAA"}]))


# --- what config accepts of a directory (issue 20: keys have a life, an issuer few keys) -----


def test_a_key_is_accepted_from_its_not_before_until_its_life_ends_and_not_after() -> None:
    policy = KeyPolicy(life=30 * 86_400 + 72 * 3600, skew=300)
    parsed = parse_directory(document(token_key(0), not_before=1_000_000), policy)
    key_id = token_key(0).token_key_id
    ends = 1_000_000 + policy.life
    (entry,) = parsed.entries
    assert entry.accepted_until == ends
    assert parsed.key_for(key_id, now=1_000_000 - 300) == token_key(0)  # the clocks may differ
    assert parsed.key_for(key_id, now=1_000_000 - 301) is None  # announced, not yet in effect
    assert parsed.key_for(key_id, now=ends - 1) == token_key(0)
    assert parsed.key_for(key_id, now=ends) is None  # however long the issuer lists it


def test_a_key_without_a_not_before_is_skipped_as_its_life_cannot_be_bounded() -> None:
    undated = {"token-type": 2, "token-key": token_key(1).to_base64url()}
    parsed = parse_directory(document(token_key(0), extra=[undated]))
    assert parsed.keys() == [token_key(0)]
    assert any("not-before" in reason for reason in parsed.skipped)


def test_a_directory_listing_more_keys_than_the_limit_is_refused_whole() -> None:
    # RFC 9576 §6.2: an issuer that lists many keys could give each to a few users.
    body = document(token_key(0), token_key(1), token_key(2), token_key(3))
    with pytest.raises(InvalidDirectory, match="PHOENIX_ISSUER_MAX_KEYS"):
        parse_directory(body, KeyPolicy(max_keys=3))
    assert len(parse_directory(body, KeyPolicy(max_keys=4)).keys()) == 4


def test_with_pinned_key_ids_only_those_keys_are_accepted() -> None:
    pinned = KeyPolicy(pinned=frozenset({token_key(1).token_key_id}))
    parsed = parse_directory(document(token_key(0), token_key(1)), pinned)
    assert parsed.keys() == [token_key(1)]
    with pytest.raises(InvalidDirectory):
        parse_directory(document(token_key(0)), pinned)


async def test_a_directory_with_too_many_keys_keeps_the_last_good_copy(
    server: Server, issuer: FakeIssuer
) -> None:
    async with client_for(server.url, policy=KeyPolicy(max_keys=2)) as directory:
        issuer.publish(document(token_key(0), token_key(1), token_key(2)))
        assert not await directory.refresh()
        assert directory.keys() == [token_key(0)]


async def test_the_last_good_copy_stops_being_trusted_after_the_stale_limit(
    server: Server,
) -> None:
    async with client_for(server.url, refresh_seconds=1.0, max_stale_refreshes=3) as directory:
        assert directory.ready()
        server.stop()
        await eventually(lambda: not directory.ready(), seconds=30)
        assert directory.keys() == [token_key(0)]  # still held, no longer used
        with pytest.raises(IssuerDirectoryUnavailable, match="too old"):
            await directory.probe()
        server.start()
        await eventually(directory.ready, seconds=30)
