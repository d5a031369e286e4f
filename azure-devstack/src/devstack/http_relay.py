"""Passing a request on to a local back end and its answer back, as an HTTP front end does: shared by
the Blob gateway (in front of Azurite) and the Cosmos DB front end (in front of the Node engine).

Headers go through as they came except the connection-level ones a proxy must not forward; bodies go
through as bytes, never decoded or decompressed, streamed both ways.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import aiohttp
from aiohttp import hdrs, web
from multidict import CIMultiDict

# Connection-level headers a proxy must not forward (RFC 9110 section 7.6.1), plus Expect, which aiohttp
# has already answered, and Host, set explicitly.
NOT_FORWARDED = frozenset(
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
CHUNK_BYTES = 64 * 1024


def forwarded_headers(items: Iterable[tuple[str, str]], host: str | None = None) -> CIMultiDict[str]:
    """`items` without the connection-level headers; with `host` as Host when given."""
    headers = CIMultiDict((name, value) for name, value in items if name.lower() not in NOT_FORWARDED)
    if host is not None:
        headers[hdrs.HOST] = host
    return headers


async def relay(
    answer: aiohttp.ClientResponse,
    request: web.Request,
    *,
    backend: str,
    replace: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Stream `answer` to the client of `request`, with the headers in `replace` set over the back end's."""
    response = web.StreamResponse(status=answer.status, reason=answer.reason)
    response.headers.extend(forwarded_headers(answer.headers.items()))
    for name, value in (replace or {}).items():
        response.headers[name] = value
    await response.prepare(request)
    try:
        async for chunk in answer.content.iter_chunked(CHUNK_BYTES):
            await response.write(chunk)
    except aiohttp.ClientError as exc:
        # The status line has gone out: cutting the connection is all that is left, as a failing server does.
        raise ConnectionResetError(f"{backend} broke off its answer: {exc}") from exc
    await response.write_eof()
    return response
