"""The way through to Azurite: the request as it came (method, path, query, headers, body), streamed both ways.

One long-lived `ClientSession` with keep-alive, trusting only the local CA. `Host` goes through unchanged,
so Azurite sees the production-style name (`<account>.blob.core.windows.net`) and takes the account from
it, as Azure does; `Authorization` too, so Azurite still runs its own (weaker) token checks. Bodies are
passed as bytes, never decoded or decompressed, so Content-MD5/CRC64 and Content-Length stay true.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from pathlib import Path

import aiohttp
from aiohttp import hdrs, web
from multidict import CIMultiDict
from yarl import URL

# Connection-level headers a proxy must not forward (RFC 9110 section 7.6.1), plus Expect, which aiohttp
# has already answered, and Host, set explicitly.
_NOT_FORWARDED = frozenset(
    name.lower()
    for name in (
        hdrs.CONNECTION,
        "Keep-Alive",
        hdrs.PROXY_AUTHENTICATE,
        hdrs.PROXY_AUTHORIZATION,
        hdrs.TE,
        hdrs.TRAILER,
        hdrs.TRANSFER_ENCODING,
        hdrs.UPGRADE,
        hdrs.EXPECT,
        hdrs.HOST,
    )
)
# aiohttp would add these when absent; the request must reach Azurite as the client sent it.
_NO_AUTO_HEADERS = frozenset({hdrs.ACCEPT, hdrs.ACCEPT_ENCODING, hdrs.USER_AGENT, hdrs.CONTENT_TYPE})
# Below Azurite's own idle timeout (5 s, DEFAULT_BLOB_KEEP_ALIVE_TIMEOUT in azurite/dist/src/blob/utils/
# constants.js), so the gateway never reuses a connection Azurite is closing.
KEEPALIVE_SECONDS = 4.0
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 120.0  # between two chunks of a body, not for the whole transfer
CHUNK_BYTES = 64 * 1024


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
            headers=_forwarded_headers(request.headers.items(), request.host),
            data=request.content if request.body_exists else None,
            allow_redirects=False,
        ) as answer:
            return await _relay(answer, request)

    async def blob_exists(self, request: web.Request) -> bool:
        """Whether the blob the request names exists: a Get Blob Properties with the caller's own headers."""
        headers = _forwarded_headers(request.headers.items(), request.host)
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


async def _relay(answer: aiohttp.ClientResponse, request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(status=answer.status, reason=answer.reason)
    response.headers.extend(_forwarded_headers(answer.headers.items()))
    await response.prepare(request)
    try:
        async for chunk in answer.content.iter_chunked(CHUNK_BYTES):
            await response.write(chunk)
    except aiohttp.ClientError as exc:
        # The status line has gone out: cutting the connection is all that is left, as a failing server does.
        raise ConnectionResetError(f"Azurite broke off its answer: {exc}") from exc
    await response.write_eof()
    return response


def _forwarded_headers(items: Iterable[tuple[str, str]], host: str | None = None) -> CIMultiDict[str]:
    headers = CIMultiDict((name, value) for name, value in items if name.lower() not in _NOT_FORWARDED)
    if host is not None:
        headers[hdrs.HOST] = host
    return headers
