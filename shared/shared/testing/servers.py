"""Serve an ASGI app in-process with uvicorn on a free port, for as long as a block runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.devstack.processes import free_port


@dataclass
class Served:
    """A running server as its side of the sockets sees it."""

    url: str
    server: uvicorn.Server
    #: the client address (host, port) of every request; requests over one TCP connection share
    #: it (a new connection may reuse a closed one's port: `open_connections` is the firmer check)
    peers: list[tuple[str, int]] = field(default_factory=list)

    @property
    def connections(self) -> int:
        """How many TCP connections requests came over."""
        return len(set(self.peers))

    @property
    def open_connections(self) -> int:
        return len(self.server.server_state.connections)

    async def closed_by_client(self, timeout: float = 20.0) -> None:
        """Wait until every connection to the server is closed."""
        async with asyncio.timeout(timeout):
            while self.open_connections:
                await asyncio.sleep(0.01)


@asynccontextmanager
async def listening(
    app: ASGIApp, port: int | None = None, *, keep_alive_s: int = 5
) -> AsyncIterator[Served]:
    """The running server while the block runs; it closes an idle connection after
    `keep_alive_s` (uvicorn's default is 5)."""
    port = port or free_port()
    peers: list[tuple[str, int]] = []

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("client"):
            host, client_port = scope["client"]
            peers.append((host, client_port))
        await app(scope, receive, send)

    server = uvicorn.Server(
        uvicorn.Config(
            recording,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            timeout_keep_alive=keep_alive_s,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # it failed to start: raise why
        await asyncio.sleep(0.01)
    try:
        yield Served(f"http://127.0.0.1:{port}", server, peers)
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def serving(app: ASGIApp, port: int | None = None) -> AsyncIterator[str]:
    """The server's base URL while the block runs."""
    async with listening(app, port) as served:
        yield served.url
