"""aiohttp's HTTP/1.1 server made to refuse requests where, and with the status, Kestrel would.

Kestrel's answers to a request it cannot accept (KestrelBadHttpRequestException): request line over
MaxRequestLineSize 414; headers over MaxRequestHeadersTotalSize or more than MaxRequestHeaderCount
431; any other malformed head 400; a head still incomplete RequestHeadersTimeout after its first byte
408. Each has an empty body and closes the connection. A connection on which no request starts
within KeepAliveTimeout is closed without an answer. aiohttp answers all of these itself with a
text/plain 400 (or not at all), so HostRequestHandler maps them.

aiohttp's own parser limits are set to Kestrel's where they measure the same thing (the header
count) and to Kestrel's total where they measure less (its line limit counts the URL only, its field
limit one header): anything aiohttp refuses Kestrel refuses too, and `oversized_head_status` then
checks what aiohttp does not measure.

Every request is made a `web.Request`, so handlers written for aiohttp's Application keep working
without aiohttp's router, whose 404 page and 417/413 answers are not the host's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from email.utils import formatdate

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader

from devstack.funchost.limits import HostLimits

log = logging.getLogger("devstack.funchost")

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]

# aiohttp's message for its header count limit (C and Python parsers alike); it has no type of its own.
_TOO_MANY_HEADERS = "Too many headers received"
# " HTTP/1.1\r\n" after the request-target: Kestrel's request line limit counts the whole line.
_REQUEST_LINE_TAIL = len(" HTTP/1.1\r\n")
# ": " and "\r\n" around each header value. Kestrel allows the limit plus 2 bytes for the raw header
# lines and the blank line after them, so the lines alone may fill the limit.
_HEADER_LINE_FRAMING = 4


class HostServer(web.Server):
    """Serves `handler` with HostRequestHandler connections; create it on the serving event loop."""

    def __init__(self, handler: Handler, limits: HostLimits) -> None:
        self._limits = limits
        self._serving_loop = asyncio.get_running_loop()
        super().__init__(handler, request_factory=self._new_request)

    def __call__(self) -> web.RequestHandler:
        return HostRequestHandler(self, self._limits, loop=self._serving_loop)

    def _new_request(
        self,
        message: RawRequestMessage,
        payload: StreamReader,
        protocol: web.RequestHandler,
        writer: AbstractStreamWriter,
        task: asyncio.Task[None],
    ) -> web.BaseRequest:
        return web.Request(
            message,
            payload,
            protocol,
            writer,
            task,
            self._serving_loop,
            client_max_size=self._limits.max_request_body_bytes,
        )


class HostRequestHandler(web.RequestHandler):
    def __init__(self, manager: web.Server, limits: HostLimits, *, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(
            manager,
            loop=loop,
            access_log=None,  # type: ignore[arg-type]  # None turns the access log off; aiohttp types it Logger
            keepalive_timeout=limits.keep_alive_timeout_seconds,
            max_line_size=limits.max_request_line_bytes,
            max_field_size=limits.max_request_headers_total_bytes,
            max_headers=limits.max_request_header_count,
            auto_decompress=False,  # the host hands the function the body bytes as sent
        )
        self._limits = limits
        self._headers_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        was_awaiting_head = self._awaiting_request_head()
        super().data_received(data)
        if not self._awaiting_request_head():
            self._cancel_headers_timer()
        elif was_awaiting_head and data and self._headers_timer is None:
            # The first bytes of a request head: Kestrel's RequestHeadersTimeout starts now.
            self._headers_timer = asyncio.get_running_loop().call_later(
                self._limits.request_headers_timeout_seconds, self._request_headers_timed_out
            )

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_headers_timer()
        super().connection_lost(exc)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """Answer as Kestrel does: its status for a malformed head, an empty body, then close."""
        if status == 400:
            status = parse_error_status(exc, self._limits)
            log.info("Rejected a malformed request with %d: %s", status, message or exc)
        else:
            log.error("Error handling a request (answered %d)", status, exc_info=exc)
        if request.writer.output_size > 0:
            raise ConnectionError("the response had started; the connection is closed instead")
        # Said explicitly: aiohttp answers a head it could not parse as HTTP/1.0, where closing is implied.
        response = web.Response(status=status, headers={"Connection": "close"})
        response.force_close()
        return response

    def _awaiting_request_head(self) -> bool:
        # aiohttp waits on this future exactly while no request is being handled or queued, so bytes
        # that arrive then belong to the next request's head. It is private, hence the tests that
        # pin the 408 behaviour.
        waiter = self._waiter
        return waiter is not None and not waiter.done()

    def _cancel_headers_timer(self) -> None:
        if self._headers_timer is not None:
            self._headers_timer.cancel()
            self._headers_timer = None

    def _request_headers_timed_out(self) -> None:
        self._headers_timer = None
        if self.transport is None or not self._awaiting_request_head():
            return
        log.info(
            "Rejected a request whose headers did not arrive within %s s with 408",
            self._limits.request_headers_timeout_seconds,
        )
        self.transport.write(_closing_response_head(408, "Request Timeout"))
        self.force_close()


def parse_error_status(exc: BaseException | None, limits: HostLimits) -> int:
    """Kestrel's status for a head aiohttp's parser refused (aiohttp says 400 for all of them)."""
    if isinstance(exc, LineTooLong):
        # The limit in the exception tells which of the two line limits was passed.
        return 414 if exc.args[1] == limits.max_request_line_bytes else 431
    if isinstance(exc, BadHttpMessage) and exc.message == _TOO_MANY_HEADERS:
        return 431
    return 400


def oversized_head_status(request: web.BaseRequest, limits: HostLimits) -> int | None:
    """414 or 431 for a head aiohttp accepted but Kestrel would not, else None."""
    target = request.raw_path.encode("utf-8", "surrogateescape")
    if len(request.method) + 1 + len(target) + _REQUEST_LINE_TAIL > limits.max_request_line_bytes:
        return 414
    header_bytes = sum(len(name) + len(value) + _HEADER_LINE_FRAMING for name, value in request.raw_headers)
    if header_bytes > limits.max_request_headers_total_bytes:
        return 431
    return None


async def answer_and_close(request: web.BaseRequest, status: int) -> web.StreamResponse:
    """An empty answer, after which the connection closes at once without reading what is left.

    Kestrel ends the connection like this after refusing a request or its body, instead of reading
    an unread body to the end for keep-alive as aiohttp would.
    """
    response = web.Response(status=status)
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()
    return response


def _closing_response_head(status: int, reason: str) -> bytes:
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n"
        f"Date: {formatdate(usegmt=True)}\r\n\r\n"
    ).encode("ascii")
