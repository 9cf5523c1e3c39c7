"""The node's blocklist fetcher against a publication the worker's real compiler made, served
over HTTP: verified lists come in, unchanged ones cost nothing, tampered ones are refused."""

from __future__ import annotations

import base64
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from phoenix.worker.publish import LocalTarget
from phoenix_node.blocklist import BlocklistError, Fetcher
from tests.harness.hosts_server import HostsServer, Served, hosts_file
from tests.integration.worker.conftest import make_compiler

SEED = base64.b64encode(b"node-fetch-test-signing-seed-32b").decode()


class Published:
    def __init__(self, root: Path, redis_url: str) -> None:
        self.hosts = HostsServer()
        self.target = LocalTarget(root)
        self.compiler = make_compiler(
            self.target, self.hosts.url, redis_url, f"fetch-{id(self)}", SEED
        )
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
        handler.log_message = lambda *args: None  # type: ignore[attr-defined, method-assign]
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"

    def publish(self, names: list[str], modified: float) -> None:
        self.hosts.files["/hosts"] = Served(hosts_file(names), last_modified=modified)
        self.compiler.compile("base")

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.hosts.stop()


@pytest.fixture
def published(tmp_path: Path, redis_url: str) -> Iterator[Published]:
    made = Published(tmp_path / "published", redis_url)
    yield made
    made.close()


def fetcher(url: str, seed: str = SEED) -> Fetcher:
    key = bytes(SigningKey(base64.b64decode(seed)).verify_key)
    return Fetcher(url, key, timeout=5)


async def test_a_published_list_comes_in_once_and_again_only_when_it_changes_or_is_lost(
    published: Published,
) -> None:
    published.publish(["doubleclick.net", "ads.example.com"], 1_700_000_000)
    fetch = fetcher(published.url)
    try:
        first = await fetch.fetch("base")
        assert first is not None
        assert first.names == {"doubleclick.net", "ads.example.com"}
        assert await fetch.fetch("base") is None  # the same names: nothing to load
        fetch.forget("base")  # its resolver was restarted empty
        again = await fetch.fetch("base")
        assert again is not None
        assert again.names == first.names
        published.publish(["ads.example.com"], 1_800_000_000)
        changed = await fetch.fetch("base")
        assert changed is not None
        assert changed.names == {"ads.example.com"}
    finally:
        await fetch.aclose()


async def test_a_tampered_names_file_or_another_key_is_refused(published: Published) -> None:
    published.publish(["doubleclick.net"], 1_700_000_000)
    other = base64.b64encode(b"another-signing-seed-of-32-bytes").decode()
    with pytest.raises(BlocklistError, match="not signed"):
        await fetcher(published.url, other).fetch("base")
    [names] = (published.target.root / "names").iterdir()
    names.write_text("doubleclick.net\nbank.example\n")
    with pytest.raises(BlocklistError, match="sha256"):
        await fetcher(published.url).fetch("base")
    with pytest.raises(BlocklistError, match="HTTP 404"):
        await fetcher(published.url).fetch("social")
    with pytest.raises(BlocklistError, match="Connect"):
        await fetcher("http://127.0.0.1:9").fetch("base")
