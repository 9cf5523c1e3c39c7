"""A hello-world Litestar app: the anchor for "our route vs the framework's minimum".

Serve it as ``bench.hello:create_app`` (factory) or ``bench.hello:app``, on the same server as
the figure it anchors, and request ``GET /`` (:data:`PATH`).
"""

from __future__ import annotations

from typing import Final

from litestar import Litestar, get

PATH: Final = "/"


@get(PATH, sync_to_thread=False)
def hello() -> str:
    return "Hello, world!"


def create_app() -> Litestar:
    return Litestar([hello])


app = create_app()
