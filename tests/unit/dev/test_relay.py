"""The dev relay forwards a loopback port and, closed mid-connection, leaves nothing behind."""

from __future__ import annotations

import gc
import socket
import sys
import threading
from collections.abc import Iterator

import pytest

from phoenix.dev.probes import free_port
from phoenix.dev.relay import Relay


@pytest.fixture
def echo() -> Iterator[int]:
    """A one-connection-at-a-time echo server on loopback that never closes first."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def test_bytes_pass_through_both_ways(echo: int) -> None:
    relay = Relay("127.0.0.1", free_port(), echo)
    try:
        with socket.create_connection(("127.0.0.1", relay.listener.getsockname()[1]), 5) as conn:
            conn.sendall(b"ping")
            assert conn.recv(4) == b"ping"
    finally:
        relay.close()


def test_closing_with_a_connection_open_raises_nothing_later(
    echo: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relay stopped mid-connection used to leave its coroutine pending on a stopped loop;
    the garbage collector destroyed it later and its cleanup raised where no one could catch
    it, failing whichever test happened to be running."""
    ignored: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    relay = Relay("127.0.0.1", free_port(), echo)
    conn = socket.create_connection(("127.0.0.1", relay.listener.getsockname()[1]), 5)
    conn.sendall(b"held open")
    assert conn.recv(9) == b"held open"
    relay.close()
    del relay
    gc.collect()
    conn.close()
    assert ignored == []
    assert not any(t.name == "phoenix-dev-relay" for t in threading.enumerate())
