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

Faults (devstack/faults.py), per host or for the whole proxy, switched with `fault(mode, host)`:
- "refuse" on a host: new CONNECTs are answered 502, as an egress proxy answers when the upstream is
  gone, and that host's open tunnels are cut. On the whole proxy: every tunnel is cut and every new
  connection is reset unanswered.
- "freeze" on a host: new CONNECTs are accepted and never answered, and that host's open tunnels stop
  carrying bytes (held open, not closed). On the whole proxy: the same for every connection.
- clearing (mode None) lets held tunnels and CONNECTs move on; new tunnels forward normally.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from devstack.faults import FaultMode, Gate, passable

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 8 * 1024
HEAD_TIMEOUT_SECONDS = 10


@dataclass(frozen=True, eq=False)
class _Tunnel:
    host: str
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter

    def cut(self) -> None:
        # abort(), not close(): a dead upstream resets connections, it does not say goodbye.
        self.client.transport.abort()
        self.upstream.transport.abort()


class HostProxy:
    def __init__(self, routes: Mapping[str, tuple[str, int]]) -> None:
        # "host:port" (lower case) -> where the tunnel really goes
        self._routes = {k.lower(): v for k, v in routes.items()}
        self._server: asyncio.Server | None = None
        self._tunnels: set[asyncio.Task[None]] = set()
        self._open: set[_Tunnel] = set()
        self._whole = Gate()
        self._hosts = {_host(route): Gate() for route in self._routes}

    def fault(self, mode: FaultMode | None, host: str | None = None) -> None:
        """Make one routed host (or, with host None, the whole proxy) refuse or freeze; None clears."""
        gate = self._whole if host is None else self._hosts[host.lower()]
        gate.set(mode)
        if mode == "refuse":
            for tunnel in list(self._open):
                if host is None or tunnel.host == host.lower():
                    tunnel.cut()

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
            if not await passable(self._whole):  # frozen: the connection waits, unread
                writer.transport.abort()
                return
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
        gates = (self._whole, self._hosts[_host(target)])
        if not await passable(*gates):
            await _reply(writer, 502, "Bad Gateway")
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*upstream)
        except OSError:  # the service is not listening (stopped, killed): what an egress proxy answers
            await _reply(writer, 502, "Bad Gateway")
            return
        tunnel = _Tunnel(_host(target), writer, up_writer)
        self._open.add(tunnel)
        try:
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer, gates), _pipe(up_reader, writer, gates))
        finally:
            self._open.discard(tunnel)
            up_writer.close()


def _host(route: str) -> str:
    return route.rpartition(":")[0].lower()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, gates: tuple[Gate, ...]) -> None:
    try:
        while chunk := await reader.read(64 * 1024):
            if not await passable(*gates):  # frozen: the chunk is held; refused: the tunnel is being cut
                return
            writer.write(chunk)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()


async def _reply(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
