"""What listens on loopback: the checks the launcher waits on and `phoenix dev up` starts with."""

from __future__ import annotations

import http.client
import socket
import urllib.request


def free_port() -> int:
    """A port nothing listens on now (another process may still take it before it is used)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:`port` (connections of a run just stopped do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def port_open(port: int, timeout: float = 1.0) -> bool:
    """Something accepts connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout):
            return True
    except OSError:
        return False


def answers_ok(url: str, timeout: float = 2.0) -> bool:
    """`url` (one of our own loopback servers) answers 200."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    try:
        with direct.open(url, timeout=timeout) as answer:
            return bool(answer.status == 200)
    except (OSError, http.client.HTTPException):  # refused, reset or half-started
        return False
