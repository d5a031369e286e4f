"""HTTP between aiohttp and the worker: what the host sends (RpcHttp) and what it makes of the answer.

Request (host, ToRpcHttp): the absolute URL as received; header names lower-cased and repeated
headers joined with "," (ASP.NET's StringValues.ToString(); empty values are kept, since the Python
worker does not ask the host to drop them); query parameters joined the same way, with names compared
case-insensitively and empty values dropped; route values that did not match (absent optional
parameters) left out; the body as raw bytes (the worker asks for RawHttpBodyBytes and RpcHttpBodyOnly).
`HttpTriggerData` is that message's content, for either invoker.

Response (host, RawScriptResult): `HttpResult` is the status, headers and body the host writes. The
azure-functions-runtime path builds it from the worker's RpcHttp (runtime_http). The in-process
invoker of Python 3.11/3.12 builds it with `result_of`, which does the worker's HttpResponseConverter
work: `Content-Type` from the mimetype (with `; charset=...` for text/*) unless the function set one,
every `Set-Cookie` kept verbatim, any other header given twice keeps only its last value (the worker
sends headers as a map); a function returning None answers 200 with no body and a `str` answers 200
text/plain; anything else fails the invocation. Those two return values differ on 3.13: see runtime_http.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import azure.functions as func
from aiohttp import web
from multidict import CIMultiDict

SET_COOKIE = "set-cookie"
CONTENT_TYPE = "content-type"
TEXT_PLAIN = "text/plain; charset=utf-8"
# The server computes framing itself; copying these from the function would corrupt the response.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


class UnsupportedReturnValueError(TypeError):
    pass


@dataclass(frozen=True)
class HttpTriggerData:
    """The RpcHttp the host sends for one request (`route_params` is RpcHttp's `params`)."""

    method: str
    url: str
    headers: dict[str, str]
    query: dict[str, str]
    route_params: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class HttpResult:
    """What the host writes back: headers in order, `Set-Cookie` possibly several times."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def to_function_request(request: web.BaseRequest, body: bytes, route_params: Mapping[str, str]) -> HttpTriggerData:
    return HttpTriggerData(
        method=request.method,
        url=str(request.url),
        headers={name.lower(): value for name, value in _joined(request.headers.items()).items()},
        query={name: value for name, value in _joined(request.query.items()).items() if value},
        route_params=dict(route_params),
        body=body,
    )


def _joined(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Repeated names (compared case-insensitively, as ASP.NET does) become one comma-joined value."""
    grouped: dict[str, tuple[str, list[str]]] = {}
    for name, value in items:
        grouped.setdefault(name.lower(), (name, []))[1].append(value)
    return {name: ",".join(values) for name, values in grouped.values()}


def python_request(trigger: HttpTriggerData) -> func.HttpRequest:
    """The in-process invoker's RpcHttp -> func.HttpRequest (the runtime does this itself on 3.13+)."""
    return func.HttpRequest(
        method=trigger.method,
        url=trigger.url,
        headers=trigger.headers,
        params=trigger.query,
        route_params=trigger.route_params,
        body=trigger.body,
    )


def to_web_response(result: HttpResult) -> web.Response:
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in result.headers:
        if name.lower() not in FRAMING_HEADERS:
            headers.add(name, value)
    return web.Response(status=result.status, body=result.body, headers=headers)


def result_of(value: object) -> HttpResult:
    """The in-process invoker's reading of an HTTP function's return value."""
    if value is None:
        return HttpResult(200, (), b"")
    if isinstance(value, str):
        return HttpResult(200, (("Content-Type", TEXT_PLAIN),), value.encode("utf-8"))
    if isinstance(value, func.HttpResponse):
        return _from_http_response(value)
    raise UnsupportedReturnValueError(
        f"an HTTP function must return func.HttpResponse, str or None, not {type(value).__name__}"
    )


def _from_http_response(response: func.HttpResponse) -> HttpResult:
    cookies: list[tuple[str, str]] = []
    last_values: dict[str, tuple[str, str]] = {}
    for name, value in response.headers.items():
        lowered = name.lower()
        if lowered == SET_COOKIE:
            cookies.append(("Set-Cookie", value))
        else:
            last_values[lowered] = (name, value)
    if CONTENT_TYPE not in last_values:
        last_values[CONTENT_TYPE] = ("Content-Type", _content_type(response))
    return HttpResult(response.status_code, (*last_values.values(), *cookies), response.get_body())


def _content_type(response: func.HttpResponse) -> str:
    if response.mimetype.startswith("text/"):
        return f"{response.mimetype}; charset={response.charset}"
    return str(response.mimetype)
