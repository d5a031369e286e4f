"""The way through to Azurite: the request as it came (method, path, query, headers, body), streamed both ways.

One long-lived `ClientSession` with keep-alive, trusting only the local CA. `Host` goes through unchanged,
so Azurite sees the production-style name (`<account>.blob.core.windows.net`) and takes the account from
it, as Azure does; `Authorization` too, so Azurite still runs its own (weaker) token checks. Bodies are
passed as bytes, never decoded or decompressed, so Content-MD5/CRC64 and Content-Length stay true.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
from aiohttp import hdrs, web
from yarl import URL

from devstack.http_relay import forwarded_headers, relay

# aiohttp would add these when absent; the request must reach Azurite as the client sent it.
_NO_AUTO_HEADERS = frozenset({hdrs.ACCEPT, hdrs.ACCEPT_ENCODING, hdrs.USER_AGENT, hdrs.CONTENT_TYPE})
# Below Azurite's own idle timeout (5 s, DEFAULT_BLOB_KEEP_ALIVE_TIMEOUT in azurite/dist/src/blob/utils/
# constants.js), so the gateway never reuses a connection Azurite is closing.
KEEPALIVE_SECONDS = 4.0
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 120.0  # between two chunks of a body, not for the whole transfer


class Upstream:
    def __init__(self, base_url: str, ca: Path) -> None:
        self._base = base_url.rstrip("/")
        self._ca = ca
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        context = ssl.create_default_context(cafile=str(self._ca))
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, keepalive_timeout=KEEPALIVE_SECONDS),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=CONNECT_TIMEOUT_SECONDS, sock_read=READ_TIMEOUT_SECONDS
            ),
            trust_env=False,  # loopback only: no proxy, no .netrc
            auto_decompress=False,
            skip_auto_headers=_NO_AUTO_HEADERS,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def forward(self, request: web.Request) -> web.StreamResponse:
        """Send the request to Azurite and stream its answer back; aiohttp.ClientError if no answer came."""
        async with self._http.request(
            request.method,
            self._url(request.rel_url.raw_path_qs),
            headers=forwarded_headers(request.headers.items(), request.host),
            data=request.content if request.body_exists else None,
            allow_redirects=False,
        ) as answer:
            return await relay(answer, request, backend="Azurite")

    async def blob_exists(self, request: web.Request) -> bool:
        """Whether the blob the request names exists: a Get Blob Properties with the caller's own headers."""
        headers = forwarded_headers(request.headers.items(), request.host)
        for conditional in (hdrs.IF_MATCH, hdrs.IF_NONE_MATCH, hdrs.IF_MODIFIED_SINCE, hdrs.IF_UNMODIFIED_SINCE):
            headers.popall(conditional, None)
        headers.popall(hdrs.CONTENT_LENGTH, None)
        async with self._http.head(self._url(request.rel_url.raw_path), headers=headers) as answer:
            return answer.status != 404

    @property
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Upstream.start() was not awaited (the app's startup runs it)")
        return self._session

    def _url(self, raw_path_qs: str) -> URL:
        return URL(self._base + raw_path_qs, encoded=True)  # as received: no re-quoting
