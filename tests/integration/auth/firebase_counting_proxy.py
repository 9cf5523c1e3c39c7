"""A real HTTP reverse proxy in front of the Firebase Auth emulator that records every request.

Point ``FIREBASE_AUTH_EMULATOR_HOST`` at :attr:`CountingProxy.host` and firebase-admin (in this
process or in a role process) talks to the emulator through it; :attr:`paths` is then the list of
everything that reached "Firebase". ``failing = True`` makes it answer 502 itself, as an
unreachable Identity Toolkit would, while still recording the request.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

LOOKUP = "accounts:lookup"  # the Identity Toolkit call behind auth.get_user()
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-encoding",
    "content-length",
}


class CountingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.paths: list[str] = []
        self.failing = False
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def lookups(self) -> int:
        with self._lock:
            return sum(1 for path in self.paths if path.split("?")[0].endswith(LOOKUP))

    def reset(self) -> None:
        with self._lock:
            self.paths.clear()
        self.failing = False

    def start(self) -> CountingProxy:
        proxy = self
        client = httpx.Client(base_url=self.upstream, timeout=10, trust_env=False)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                with proxy._lock:
                    proxy.paths.append(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.failing:
                    # 502, not 503: firebase-admin retries 500 and 503 four times with backoff
                    # (7 s a lookup); the rate limit under test only needs a lookup that fails.
                    self._answer(502, {"content-type": "application/json"}, b'{"error": {}}')
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream = client.request(self.command, self.path, content=body, headers=headers)
                self._answer(upstream.status_code, dict(upstream.headers), upstream.content)

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass  # recorded in ``paths``; nothing for stderr

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
