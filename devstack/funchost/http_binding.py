"""Between aiohttp and azure.functions, shaped like the host's RpcHttp conversion and the worker's.

Request (host, ToRpcHttp): the absolute URL as received; header names lower-cased and repeated
headers joined with ","; query parameters joined the same way, dropping empty values; route values
that did not match (absent optional parameters) left out; the body as raw bytes.

Response (worker, HttpResponseConverter; host, RpcHttp result): `Content-Type` from the mimetype
(with `; charset=...` for text/*) unless the function set one; every `Set-Cookie` is kept, but any
other header given twice keeps only its last value, because the worker sends headers as a map.
A function returning None answers 200 with no body and a `str` answers 200 text/plain, as the host
does; anything else fails the invocation, as the worker's converter raises for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import azure.functions as func
from aiohttp import web
from multidict import CIMultiDict

_SET_COOKIE = "set-cookie"
# The server computes framing itself; copying these from the function would corrupt the response.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


class UnsupportedReturnValueError(TypeError):
    pass


def to_function_request(request: web.BaseRequest, body: bytes, route_params: Mapping[str, str]) -> func.HttpRequest:
    query = {name: value for name, value in _joined(request.query.items()).items() if value}
    headers = {name.lower(): value for name, value in _joined(request.headers.items()).items()}
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=query,
        route_params=dict(route_params),
        body=body,
    )


def _joined(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Repeated names (compared case-insensitively, as ASP.NET does) become one comma-joined value."""
    grouped: dict[str, tuple[str, list[str]]] = {}
    for name, value in items:
        grouped.setdefault(name.lower(), (name, []))[1].append(value)
    return {name: ",".join(values) for name, values in grouped.values()}


def to_web_response(value: object) -> web.Response:
    if value is None:
        return web.Response(status=200)
    if isinstance(value, str):
        return web.Response(
            status=200, body=value.encode("utf-8"), headers={"Content-Type": "text/plain; charset=utf-8"}
        )
    if isinstance(value, func.HttpResponse):
        return _from_http_response(value)
    raise UnsupportedReturnValueError(
        f"an HTTP function must return func.HttpResponse, str or None, not {type(value).__name__}"
    )


def _from_http_response(response: func.HttpResponse) -> web.Response:
    headers: CIMultiDict[str] = CIMultiDict()
    last_values: dict[str, tuple[str, str]] = {}
    for name, value in response.headers.items():
        lowered = name.lower()
        if lowered == _SET_COOKIE:
            headers.add("Set-Cookie", value)
        elif lowered not in _FRAMING_HEADERS:
            last_values[lowered] = (name, value)
    for name, value in last_values.values():
        headers[name] = value
    if "content-type" not in last_values:
        headers["Content-Type"] = _content_type(response)
    return web.Response(status=response.status_code, body=response.get_body(), headers=headers)


def _content_type(response: func.HttpResponse) -> str:
    if response.mimetype.startswith("text/"):
        return f"{response.mimetype}; charset={response.charset}"
    return str(response.mimetype)
