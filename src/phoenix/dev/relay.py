"""TCP relays for the local exit node: an address the node can reach, forwarded to a role on
loopback; and the node's own loopback-only metrics port, forwarded out to this machine's."""

from __future__ import annotations

import asyncio
import ctypes
import os
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


_CLONE_NEWNET = 0x40000000


def enter_netns(name: str) -> None:
    """Move the calling thread (only it: a network namespace is per thread) into ``name``; the
    sockets it opens from then on are that namespace's."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name}")
    finally:
        os.close(fd)


class Relay:
    """`host:port` forwarded to 127.0.0.1:`target`, so the node reaches a role that listens on
    loopback only. With ``netns``, it is that namespace's 127.0.0.1:`target` (the listener
    stays here): this machine reaches the node's metrics. One thread with its own event loop;
    closed with the namespace."""

    def __init__(self, host: str, port: int, target: int, netns: str | None = None) -> None:
        self.target = target
        self.netns = netns
        self.loop = asyncio.new_event_loop()
        self.listener = socket.create_server((host, port))
        self.started = threading.Event()
        self.error: OSError | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True, name="phoenix-dev-relay")
        self.thread.start()
        self.started.wait()
        if self.error is not None:
            self.listener.close()
            raise self.error

    def _serve(self) -> None:
        try:
            if self.netns is not None:
                enter_netns(self.netns)  # the listener was made before, in this machine's
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(asyncio.start_server(self._relay, sock=self.listener))
        except OSError as error:
            self.error = error
            self.loop.close()
            return
        finally:
            self.started.set()
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
