"""The host's side of RpcHttp when azure-functions-runtime is the worker (Python 3.13+).

Out: `HttpTriggerData` becomes the TypedData the host sends (ToRpcHttp; the body only when there is
one, as bytes). Back: the worker's return value becomes what the host writes (RawScriptResult):

- RpcHttp: the status code string parsed (200 if it does not parse), every header from the worker's
  map, except that a name already written (compared case-insensitively) is not written again (which
  of two spellings comes first depends on the map's order, which protobuf leaves unspecified), and
  `content-type` becomes the response's Content-Type; the body bytes; each RpcHttpCookie rendered the
  way ASP.NET Core's `Response.Cookies.Append` does (see `render_cookie`).
- a string (what a function returning `str` sends): 200 text/plain; charset=utf-8. The host first
  tries the string as JSON and treats a JSON object with a `body` as a response description; that
  sniffing is not reproduced here.
- anything else, including no value at all, fails the invocation (an empty 500, as for an exception).
  The worker never sends those for an HTTP function: it fails the invocation itself when a function
  returns None or a value its HttpResponseConverter cannot encode.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from devstack.funchost.http_binding import CONTENT_TYPE, TEXT_PLAIN, HttpResult, HttpTriggerData


class UnexpectedReturnValueError(TypeError):
    pass


def typed_data(protos: Any, trigger: HttpTriggerData) -> Any:
    http = protos.RpcHttp(
        method=trigger.method,
        url=trigger.url,
        headers=trigger.headers,
        query=trigger.query,
        params=trigger.route_params,
    )
    if trigger.body:  # the host sends no body at all for an empty one; the worker then reads b""
        http.body.bytes = trigger.body
    return protos.TypedData(http=http)


def http_result(return_value: Any) -> HttpResult:
    """`return_value` is the InvocationResponse's TypedData, or None when it has none."""
    kind = None if return_value is None else return_value.WhichOneof("data")
    if kind == "http":
        return _from_rpc_http(return_value.http)
    if kind == "string":
        return HttpResult(200, (("Content-Type", TEXT_PLAIN),), return_value.string.encode("utf-8"))
    raise UnexpectedReturnValueError(f"the worker answered an HTTP invocation with {kind or 'no'} return value")


def _from_rpc_http(http: Any) -> HttpResult:
    content_type: str | None = None
    headers: dict[str, tuple[str, str]] = {}
    for name, value in http.headers.items():
        if name.lower() == CONTENT_TYPE:
            content_type = value
        else:
            headers.setdefault(name.lower(), (name, value))
    written = list(headers.values())
    if content_type is not None:
        written.insert(0, ("Content-Type", content_type))
    written.extend(("Set-Cookie", render_cookie(cookie)) for cookie in http.cookies)
    return HttpResult(_status(http.status_code), tuple(written), _body(http))


def _status(status_code: str) -> int:
    return int(status_code) if status_code.strip().isdecimal() else 200


def _body(http: Any) -> bytes:
    if not http.HasField("body"):
        return b""
    kind = http.body.WhichOneof("data")
    if kind == "bytes":
        return bytes(http.body.bytes)
    if kind == "string":
        return str(http.body.string).encode("utf-8")
    return b""


# RpcHttpCookie.SameSite names -> what ASP.NET writes; "None" is the host's SameSiteMode.Unspecified (no attribute).
_SAME_SITE = {"Lax": "lax", "Strict": "strict", "ExplicitNone": "none"}


def render_cookie(cookie: Any) -> str:
    """ASP.NET Core's SetCookieHeaderValue for the host's CookieOptions.

    The value is escaped with Uri.EscapeDataString; attributes come in ASP.NET's order and spelling
    (expires, max-age, domain, path, secure, samesite, httponly). The worker sends `domain` and `path`
    for every cookie, empty when the function set none, so Azure answers `domain=` and `path=` then:
    azure-functions-python-worker issue #1794 shows `test=hello%2F%2Fworld; domain=; path=/; samesite=lax`.
    CookieOptions' own default path is "/".
    """
    parts = [f"{cookie.name}={quote(cookie.value, safe='')}"]
    if cookie.HasField("expires"):
        parts.append(f"expires={_http_date(cookie.expires.value.seconds)}")
    if cookie.HasField("max_age"):
        parts.append(f"max-age={int(cookie.max_age.value)}")
    if cookie.HasField("domain"):
        parts.append(f"domain={cookie.domain.value}")
    parts.append(f"path={cookie.path.value if cookie.HasField('path') else '/'}")
    if cookie.HasField("secure") and cookie.secure.value:
        parts.append("secure")
    same_site = _SAME_SITE.get(_enum_name(cookie, "same_site"))
    if same_site:
        parts.append(f"samesite={same_site}")
    if cookie.HasField("http_only") and cookie.http_only.value:
        parts.append("httponly")
    return "; ".join(parts)


def _enum_name(message: Any, field: str) -> str:
    enum = message.DESCRIPTOR.fields_by_name[field].enum_type
    return str(enum.values_by_number[getattr(message, field)].name)


def _http_date(epoch_seconds: int) -> str:
    # RFC 1123, as .NET's "r" format writes it; email.utils does not depend on the locale.
    return format_datetime(datetime.fromtimestamp(epoch_seconds, UTC), usegmt=True)
