"""A scripted HTTP server on 127.0.0.1 for the daemon's clients, in a thread of the test.

It stands in for servers that cannot run in a unit test: AWS's instance metadata service, and
the config role's node API (the integration tests drive the real one). Each test says what every
route answers and reads back what the daemon sent: method, path, headers and body as they
crossed a real socket through the daemon's own httpcore client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[Request], Answer]


@dataclass
class Stub:
    url: str
    routes: dict[tuple[str, str], Route]
    seen: list[Request] = field(default_factory=list)


@contextmanager
def serve(routes: dict[tuple[str, str], Route]) -> Iterator[Stub]:
    """Serve ``routes`` (``(method, path)`` → answer); 404 for anything else."""
    stub = Stub(url="", routes=routes)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httpcore's pool expects

        def handle_any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            request = Request(
                self.command,
                self.path,
                {name.lower(): value for name, value in self.headers.items()},
                self.rfile.read(length),
            )
            stub.seen.append(request)
            route = stub.routes.get((self.command, self.path.split("?")[0]))
            answer = route(request) if route else Answer(404)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_PUT = do_POST = handle_any  # http.server dispatches on these names

        def log_message(self, format: str, *args: object) -> None:
            pass  # the test reads ``seen``; stderr stays quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="stub-http", daemon=True
    )
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- IMDSv2 ---------------------------------------------------------------------------------

IMDS_TOKEN = "AQAEAImdsV2-session-token=="


def imdsv2(document: bytes, signature: str) -> dict[tuple[str, str], Route]:
    """Routes of an IMDSv2-only instance: a token for a ``PUT`` with a TTL, then 401 for any
    ``GET`` that does not carry it, as AWS answers when IMDSv1 is disabled."""

    def token(request: Request) -> Answer:
        if "x-aws-ec2-metadata-token-ttl-seconds" not in request.headers:
            return Answer(400)
        return Answer(200, IMDS_TOKEN.encode())

    def with_token(body: bytes) -> Route:
        def answer(request: Request) -> Answer:
            if request.headers.get("x-aws-ec2-metadata-token") != IMDS_TOKEN:
                return Answer(401)
            return Answer(200, body)

        return answer

    return {
        ("PUT", "/latest/api/token"): token,
        ("GET", "/latest/dynamic/instance-identity/document"): with_token(document),
        ("GET", "/latest/dynamic/instance-identity/signature"): with_token(signature.encode()),
    }
