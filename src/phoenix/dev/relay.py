"""A TCP relay: an address the local exit node can reach, forwarded to a role on loopback."""

from __future__ import annotations

import asyncio
import socket
import threading

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def splice(one: Stream, other: Stream) -> None:
    """Copy bytes both ways between two connections until both ends have closed."""

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while chunk := await source.read(65536):
                sink.write(chunk)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()

    await asyncio.gather(pipe(one[0], other[1]), pipe(other[0], one[1]))


def serve_until_stopped(loop: asyncio.AbstractEventLoop) -> None:
    """Run ``loop`` until it is stopped, then cancel the relays still open and close it.

    A relay left pending on a stopped loop is destroyed later by the garbage collector, and
    its ``finally`` then runs against a closed loop: an exception nobody can catch."""
    try:
        loop.run_forever()
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()


class Relay:
    """`host:port` forwarded to 127.0.0.1:`target`, so the node reaches a role that listens on
    loopback only. One thread with its own event loop; closed with the namespace."""

    def __init__(self, host: str, port: int, target: int) -> None:
        self.target = target
        self.loop = asyncio.new_event_loop()
        self.listener = socket.create_server((host, port))
        self.thread = threading.Thread(target=self._serve, daemon=True, name="phoenix-dev-relay")
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.start_server(self._relay, sock=self.listener))
        serve_until_stopped(self.loop)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        await splice((reader, writer), (up_reader, up_writer))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.listener.close()
