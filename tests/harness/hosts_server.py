"""A local HTTP server for hosts files, with real ETag / Last-Modified / 304 handling.

Tests set the body of a path and read back what each request asked for, so a test can see that a
conditional GET was made and answered 304. Nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Served:
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    last_modified: float = 1_700_000_000.0
    honour_conditions: bool = True
    send_etag: bool = True
    # Cut the body after this many bytes while announcing the full length (a broken download).
    truncate_at: int | None = None


@dataclass
class Seen:
    path: str
    if_none_match: str | None
    if_modified_since: str | None
    status: int


@dataclass
class HostsServer:
    files: dict[str, Served] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served = owner.files.get(self.path)
                inm = self.headers.get("If-None-Match")
                ims = self.headers.get("If-Modified-Since")
                if served is None:
                    self._answer(404, b"not found", "text/plain", {})
                    owner.requests.append(Seen(self.path, inm, ims, 404))
                    return
                etag = '"' + hashlib.sha256(served.body).hexdigest()[:16] + '"'
                headers = {"Last-Modified": formatdate(served.last_modified, usegmt=True)}
                if served.send_etag:
                    headers["ETag"] = etag
                status = 200
                # Without an ETag of its own, a server judges by the date alone.
                check = inm if served.send_etag else None
                if served.honour_conditions and _not_modified(served, etag, check, ims):
                    status = 304
                owner.requests.append(Seen(self.path, inm, ims, status))
                if status == 304:
                    self.send_response(304)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    return
                self._answer(200, served.body, served.content_type, headers, served.truncate_at)

            def _answer(
                self,
                status: int,
                body: bytes,
                content_type: str,
                headers: dict[str, str],
                truncate_at: int | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body if truncate_at is None else body[:truncate_at])
                if truncate_at is not None:
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _not_modified(served: Served, etag: str, inm: str | None, ims: str | None) -> bool:
    # RFC 9110 §13.2.2: If-None-Match wins; If-Modified-Since counts only without it.
    if inm is not None:
        return etag in [tag.strip() for tag in inm.split(",")] or inm.strip() == "*"
    if ims is not None:
        try:
            return served.last_modified <= parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError):
            return False
    return False


def hosts_file(
    names: list[str], header: str = "# Title: test list\n127.0.0.1 localhost\n"
) -> bytes:
    return (header + "".join(f"0.0.0.0 {name}\n" for name in names)).encode()
