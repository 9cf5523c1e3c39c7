"""A test's HTTP server on loopback, in a thread of its own: the stand-ins' common part."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """Serving ``handler`` on a free loopback port until :func:`close`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def url_of(server: ThreadingHTTPServer | None) -> str:
    assert server is not None, "not started"
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def close(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


class JsonHandler(BaseHTTPRequestHandler):
    """Reads a request's body and answers JSON; logs nothing (a test's output stays its own)."""

    def log_message(self, *_: object) -> None:
        pass

    def body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, status: int, answer: object | None) -> None:
        """``answer`` as JSON, or an empty body for None."""
        data = b"" if answer is None else json.dumps(answer).encode()
        self.send_response(status)
        if answer is not None:
            self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
