"""Passing a request on to a local back end and its answer back, as an HTTP front end does: shared by
the Blob gateway (in front of Azurite) and the Cosmos DB front end (in front of the Node engine).

Headers go through as they came except the connection-level ones a proxy must not forward; bodies go
through as bytes, never decoded or decompressed, streamed both ways.
"""

from __future__ import annotations

import ipaddress
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
    whole_up_to: int = 0,
) -> web.StreamResponse:
    """Stream `answer` to the client of `request`, with the headers in `replace` set over the back end's.

    An answer of a declared length up to `whole_up_to` bytes is read first and sent in one piece: one
    write instead of two (headers, then body), which is most of what a small answer costs."""
    headers = forwarded_headers(answer.headers.items())
    for name, value in (replace or {}).items():
        headers[name] = value
    length = answer.content_length
    if length is not None and length <= whole_up_to and request.method != "HEAD" and answer.status not in (204, 304):
        try:
            body = await answer.read()
        except aiohttp.ClientError as exc:
            raise ConnectionResetError(f"{backend} broke off its answer: {exc}") from exc
        headers.popall(hdrs.CONTENT_LENGTH, None)  # set from the body
        return web.Response(status=answer.status, reason=answer.reason, headers=headers, body=body)
    response = web.StreamResponse(status=answer.status, reason=answer.reason)
    response.headers.extend(headers)
    await response.prepare(request)
    try:
        async for chunk in answer.content.iter_chunked(CHUNK_BYTES):
            await response.write(chunk)
    except aiohttp.ClientError as exc:
        # The status line has gone out: cutting the connection is all that is left, as a failing server does.
        raise ConnectionResetError(f"{backend} broke off its answer: {exc}") from exc
    await response.write_eof()
    return response


def from_loopback(request: web.Request) -> bool:
    """Whether a request came from this machine: the test-only routes of the front ends answer nothing else."""
    try:
        address = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback
