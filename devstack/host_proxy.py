"""The stack's name service: a loopback HTTPS proxy that gives each local service its Azure host name.

The app is configured with the Azure endpoints infra/ gives it (`https://kv-<token>.vault.azure.net`,
`https://stdata<token>.blob.core.windows.net`, `https://cosmos-<token>.documents.azure.com`) and
`HTTPS_PROXY` pointing here. Each SDK opens a CONNECT tunnel to `<host>:443`, which this proxy joins to
the local service; TLS runs end to end between the client and the service, whose certificate (from the
local CA) names those hosts. Why not 127.0.0.1 URLs:
- the Key Vault SDK sends a token only to a host ending in the challenge's resource domain
  (`.vault.azure.net`), a protection against leaking tokens that the app should never switch off;
- the Cosmos SDK silently skips certificate checks for `localhost`/`127.0.0.1`, so TLS would go untested;
- the app's settings look exactly as they do in Azure.
Any other host is answered 502, as if the name did not resolve: nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 8 * 1024
HEAD_TIMEOUT_SECONDS = 10


class HostProxy:
    def __init__(self, routes: Mapping[str, tuple[str, int]]) -> None:
        # "host:port" (lower case) -> where the tunnel really goes
        self._routes = {k.lower(): v for k, v in routes.items()}
        self._server: asyncio.Server | None = None
        self._tunnels: set[asyncio.Task[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEAD_BYTES)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tunnels):
            task.cancel()
        await asyncio.gather(*self._tunnels, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tunnels.add(task)
        try:
            await self._tunnel(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            self._tunnels.discard(task)
            writer.close()

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_SECONDS)
        except asyncio.LimitOverrunError:
            await _reply(writer, 431, "Request Header Fields Too Large")
            return
        method, _, rest = head.decode("latin-1").partition(" ")
        target = rest.partition(" ")[0].lower()
        if method != "CONNECT":
            await _reply(writer, 405, "Method Not Allowed")
            return
        upstream = self._routes.get(target)
        if upstream is None:
            await _reply(writer, 502, "Bad Gateway")
            return
        up_reader, up_writer = await asyncio.open_connection(*upstream)
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(64 * 1024):
            writer.write(chunk)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()


async def _reply(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
