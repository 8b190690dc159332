"""What every fake service shares: an aiohttp app on a free 127.0.0.1 port."""

from __future__ import annotations

import socket
from types import TracebackType
from typing import Self

from aiohttp import web


async def listen(
    app: web.Application, *, handler_cancellation: bool = False, shutdown_timeout: float = 1.0
) -> tuple[web.AppRunner, str]:
    """Serve `app` on a free loopback port; returns the runner and ``http://127.0.0.1:PORT``.

    `handler_cancellation` drops a handler when its client goes away, so a client killed in
    the middle of a held request leaves nothing behind.
    """
    runner = web.AppRunner(
        app, handler_cancellation=handler_cancellation, shutdown_timeout=shutdown_timeout
    )
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    return runner, f"http://127.0.0.1:{sock.getsockname()[1]}"


class FakeServer:
    """`async with` support over the subclass's `start()` and `stop()`."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
