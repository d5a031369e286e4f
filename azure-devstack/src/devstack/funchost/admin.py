"""The part of the host's admin API a local stack needs, behind the master key like the real one.

- `GET /admin/host/status` -> `{"state": "Running", "version": "devstack"}`.
- `GET /admin/functions` and `GET /admin/functions/{name}` -> function metadata in the host's shape
  (`name`, `config.bindings`, `invoke_url_template`, `language`, `isDisabled`).
- `POST /admin/functions/{name}` with a JSON object body such as `{"input": ""}` runs a timer
  function and answers 202 at once, as the host does; the run continues in the background. As the
  host does, a body that is not JSON is refused (415 without a JSON content type, 400 when empty or
  not an object), so scripts that work here also work against Azure.
  Devstack extension: `?wait=true` waits for the run and answers 200 `{"status": "Succeeded"}` or
  500 `{"status": "Failed"}` (both with `invocationId`), so tests can run a timer deterministically.
  HTTP functions are not invocable here (400); call them on their routes.

Without the master key every admin route answers 401 with an empty body; function names are
matched case-insensitively; unknown names give 404.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from devstack.funchost.indexing import SCRIPT_MODULE, AppFunction, HttpTrigger, IndexedApp, TimerTrigger
from devstack.funchost.keys import AuthLevel, HostKeys, presented_key
from devstack.funchost.routing import full_template
from devstack.funchost.timers import TimerRunner

ADMIN_PREFIX = "/admin"
JSON_MEDIA_TYPES = ("application/json", "text/json")
TRUE_VALUES = frozenset({"true", "1"})


def is_admin_path(path: str) -> bool:
    lowered = path.lower()
    return lowered == ADMIN_PREFIX or lowered.startswith(ADMIN_PREFIX + "/")


class AdminApi:
    def __init__(self, app: IndexedApp, keys: HostKeys, timers: TimerRunner) -> None:
        self._app = app
        self._keys = keys
        self._timers = timers
        self._functions = {function.name.lower(): function for function in app.functions}

    async def handle(self, request: web.Request) -> web.Response:
        segments = [segment.lower() for segment in request.path.strip("/").split("/")[1:]]
        allowed = _allowed_methods(segments)
        if allowed is None:
            return empty(404)
        if request.method not in allowed:
            return empty(405, headers={"Allow": ", ".join(sorted(allowed))})
        if self._keys.level_on_admin_route(presented_key(request.headers, request.query)) < AuthLevel.ADMIN:
            return empty(401)
        return await self._route(segments, request)

    async def _route(self, segments: Sequence[str], request: web.Request) -> web.Response:
        if segments == ["host", "status"]:
            return web.json_response({"state": "Running", "version": "devstack"})
        if segments == ["functions"]:
            return web.json_response([self._metadata(f, request) for f in self._app.functions])
        if request.method == "GET":
            return self._one_function(segments[1], request)
        return await self._invoke(segments[1], request)

    def _one_function(self, name: str, request: web.Request) -> web.Response:
        function = self._functions.get(name)
        return empty(404) if function is None else web.json_response(self._metadata(function, request))

    async def _invoke(self, name: str, request: web.Request) -> web.Response:
        refusal = await _refuse_body(request)
        if refusal is not None:
            return refusal
        function = self._functions.get(name)
        if function is None:
            return empty(404)
        if not isinstance(function.trigger, TimerTrigger):
            return web.json_response(
                {"error": f"devstack: call HTTP function {function.name!r} on its route"}, status=400
            )
        task = self._timers.start(function)
        if request.query.get("wait", "").lower() not in TRUE_VALUES:
            return empty(202)
        outcome = await asyncio.shield(task)  # a client that gives up must not cancel the run
        status = "Failed" if outcome.failed else "Succeeded"
        return web.json_response(
            {"status": status, "invocationId": outcome.invocation_id}, status=500 if outcome.failed else 200
        )

    def _metadata(self, function: AppFunction, request: web.Request) -> dict[str, Any]:
        return {
            "name": function.name,
            "config": {
                "name": function.name,
                "entryPoint": function.name,
                "scriptFile": f"{SCRIPT_MODULE}.py",
                "language": "python",
                "functionDirectory": function.directory,
                "bindings": list(function.bindings),
            },
            "invoke_url_template": self._invoke_url(function, request),
            "language": "python",
            "isDisabled": False,
        }

    def _invoke_url(self, function: AppFunction, request: web.Request) -> str | None:
        if not isinstance(function.trigger, HttpTrigger):
            return None
        return f"{request.scheme}://{request.host}/{full_template(self._app.route_prefix, function.trigger.route)}"


def _allowed_methods(segments: Sequence[str]) -> frozenset[str] | None:
    if segments in (["host", "status"], ["functions"]):
        return frozenset({"GET"})
    if len(segments) == 2 and segments[0] == "functions":
        return frozenset({"GET", "POST"})
    return None


async def _refuse_body(request: web.Request) -> web.Response | None:
    """ASP.NET's [FromBody] FunctionInvocation: JSON content type (else 415) and a JSON object (else 400)."""
    if request.content_type not in JSON_MEDIA_TYPES and not request.content_type.endswith("+json"):
        return empty(415)
    try:
        payload = json.loads(await request.read() or b"null")
    except ValueError:
        return empty(400)
    return None if isinstance(payload, dict) else empty(400)


def empty(status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers=headers)
