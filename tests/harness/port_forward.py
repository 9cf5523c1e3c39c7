"""A loopback port forward from inside a network namespace to a server on the host's loopback.

The daemon's tests need no server; this is for the tests that run the daemon against one.
"""

from __future__ import annotations

import asyncio
import socket
import threading

from node_harness.netns import Netns
from phoenix.dev.relay import serve_until_stopped, splice


class PortForward:
    """127.0.0.1:``port`` inside ``netns`` forwards to 127.0.0.1:``target`` on the host.

    The daemon under test runs in the node namespace and talks to the config role as it would
    over the network; the role itself stays on the host next to Postgres and Redis. The
    listening socket is made by a thread that entered the namespace (a socket keeps the
    namespace it was made in); the relay runs on an event loop of its own, in the host's
    namespace. ``target`` may change (a restarted server) while the forward stays. With
    ``source``, the relay connects from that loopback address (say 127.42.0.2), so a test can
    look for the address its client's requests came from in everything the servers kept."""

    def __init__(self, netns: Netns, target: int, source: str | None = None) -> None:
        self.target = target
        self.source = source
        made: list[socket.socket] = []

        def make() -> None:
            with netns.entered():
                listener = socket.socket()
                listener.bind(("127.0.0.1", 0))
                listener.listen(128)
                made.append(listener)

        maker = threading.Thread(target=make)
        maker.start()
        maker.join()
        self.listener = made[0]
        self.port: int = self.listener.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        serve_until_stopped(self.loop)

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._relay, sock=self.listener)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            local = None if self.source is None else (self.source, 0)
            up_reader, up_writer = await asyncio.open_connection(
                "127.0.0.1", self.target, local_addr=local
            )
        except OSError:
            writer.close()
            return
        await splice((reader, writer), (up_reader, up_writer))

    def close(self) -> None:
        def stop() -> None:
            self.server.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(stop)
        self.thread.join(5)
