"""Reading an HTTP function's request body the way the host's Kestrel lets it be read.

- Size: a Content-Length over the limit fails before a byte is read (Kestrel's OnReadStarting); a
  chunked body fails as soon as the bytes received pass the limit (AddAndCheckObservedBytes).
- Rate (MinRequestBodyDataRate): after a grace period, the body must have arrived at an average of
  at least the minimum rate since reading began, or the read fails. A body that never arrives fails
  when the grace period ends.
- `Expect: 100-continue` is answered when reading starts, as Kestrel does, so a client that waits
  for it is never sent "100 Continue" for a request that fails before its body is read.

The bytes are the wire bytes: the host does not decompress request bodies, so neither does this.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from devstack.funchost.limits import HostLimits

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class RequestBodyError(Exception):
    """The body cannot be read; the message is Kestrel's for the same reason."""


async def read_body(request: web.BaseRequest, limits: HostLimits) -> bytes:
    maximum = limits.max_request_body_bytes
    declared = request.content_length
    if declared is not None and declared > maximum:
        raise _too_large(maximum)
    if not request.body_exists:
        return b""
    await _send_continue_if_expected(request)
    loop = asyncio.get_running_loop()
    started = loop.time()
    chunks: list[bytes] = []
    received = 0
    while True:
        # The moment the average rate since `started` would drop below the minimum.
        deadline = started + max(limits.request_body_grace_seconds, received / limits.min_request_body_bytes_per_second)
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await request.content.readany()
        except TimeoutError:
            raise RequestBodyError(
                "Reading the request body timed out due to data arriving too slowly. See MinRequestBodyDataRate."
            ) from None
        except (web.RequestPayloadError, ConnectionError) as exc:
            raise RequestBodyError(f"Unexpected end of request content ({exc}).") from None
        if not chunk:
            return b"".join(chunks)
        received += len(chunk)
        if received > maximum:
            raise _too_large(maximum)
        chunks.append(chunk)


def _too_large(maximum: int) -> RequestBodyError:
    return RequestBodyError(f"Request body too large. The max request body size is {maximum} bytes.")


async def _send_continue_if_expected(request: web.BaseRequest) -> None:
    expectation = request.headers.get("Expect", "")
    if request.version >= (1, 1) and expectation.lower() == "100-continue":
        await request.writer.write(_CONTINUE)
