"""The aiohttp server: function routes, the admin API, and the process's serving lifetime.

Per request: `/admin/...` goes to the admin API; anything else is matched against the compiled route
table (404 with an empty body when nothing matches, including a method the route does not allow),
then the function's authLevel is checked (401 with an empty body), then the function is invoked.
A failed invocation answers 500 with an empty body; the traceback only goes to the log. Request
bodies are limited to 100 MB, the host's default maximum.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from typing import TextIO

from aiohttp import web

from devstack.funchost.admin import AdminApi, empty, is_admin_path
from devstack.funchost.http_binding import to_function_request, to_web_response
from devstack.funchost.indexing import AppFunction, HttpTrigger, IndexedApp, IndexingError
from devstack.funchost.invoker import Invoker
from devstack.funchost.keys import HostKeys, presented_key
from devstack.funchost.routing import RouteTable, RouteTemplateError, compile_route, full_template
from devstack.funchost.timers import TimerRunner

# "The HTTP request length is limited to 100 MB (104,857,600 bytes)": HTTP trigger docs, Limits.
MAX_REQUEST_BODY_BYTES = 100 * 1024 * 1024
SHUTDOWN_GRACE_SECONDS = 5.0

log = logging.getLogger("devstack.funchost")


class FunctionHost:
    def __init__(self, app: IndexedApp, keys: HostKeys, invoker: Invoker) -> None:
        self.app = app
        self._keys = keys
        self._invoker = invoker
        self._routes = build_route_table(app)
        self.timers = TimerRunner(invoker)
        self._admin = AdminApi(app, keys, self.timers)

    def web_application(self) -> web.Application:
        application = web.Application(client_max_size=MAX_REQUEST_BODY_BYTES)
        application.router.add_route("*", "/{path:.*}", self._dispatch)
        return application

    def close(self) -> None:
        self._invoker.close()

    async def _dispatch(self, request: web.Request) -> web.Response:
        if is_admin_path(request.path):
            return await self._admin.handle(request)
        return await self._serve_function(request)

    async def _serve_function(self, request: web.Request) -> web.Response:
        match = self._routes.match(request.method, request.path)
        if match is None:
            return empty(404)
        function = match.target
        trigger = function.trigger
        assert isinstance(trigger, HttpTrigger)
        if self._keys.level_on_function_route(presented_key(request.headers, request.query)) < trigger.auth_level:
            return empty(401)
        function_request = to_function_request(request, await request.read(), match.route_params)
        outcome = await self._invoker.invoke(
            function, function_request, to_web_response, trace_parent=request.headers.get("traceparent")
        )
        return empty(500) if outcome.value is None else outcome.value


def build_route_table(app: IndexedApp) -> RouteTable[AppFunction]:
    """Compile every HTTP function's route once; a template the host would reject stops the start-up."""
    routes = []
    for function in app.functions:
        if not isinstance(function.trigger, HttpTrigger):
            continue
        template = full_template(app.route_prefix, function.trigger.route)
        try:
            routes.append(compile_route(template, function, function.trigger.methods))
        except RouteTemplateError as exc:
            raise IndexingError(f"function {function.name!r}: {exc}") from None
    return RouteTable(routes)


async def serve(host: FunctionHost, address: str, port: int, *, ready_stream: TextIO = sys.stdout) -> None:
    """Listen until SIGTERM or SIGINT, announcing readiness with one JSON line on `ready_stream`."""
    runner = web.AppRunner(host.web_application(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, address, port).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        bound_port = int(runner.addresses[0][1])
        _log_route_map(host, address, bound_port)
        host.timers.start_run_on_startup(host.app.functions)
        ready = {"event": "ready", "port": bound_port, "functions": [f.name for f in host.app.functions]}
        print(json.dumps(ready), file=ready_stream, flush=True)
        await stop.wait()
        log.info("Stopping the devstack function host")
        await host.timers.drain(SHUTDOWN_GRACE_SECONDS)
    finally:
        await runner.cleanup()
        host.close()


def _log_route_map(host: FunctionHost, address: str, port: int) -> None:
    indexer = "the Python worker's own loader" if host.app.validated_by_worker else "azure-functions get_functions()"
    log.info("Indexed %d functions from %s with %s", len(host.app.functions), host.app.app_dir, indexer)
    for function in host.app.functions:
        trigger = function.trigger
        if isinstance(trigger, HttpTrigger):
            methods = ",".join(trigger.methods) if trigger.methods else "ALL"
            url = f"http://{address}:{port}/{full_template(host.app.route_prefix, trigger.route)}"
            log.info("%s: [%s] %s (authLevel %s)", function.name, methods, url, trigger.auth_level.name)
        else:
            log.info(
                "%s: timer (not scheduled by the devstack host; run it with POST /admin/functions/%s)",
                function.name,
                function.name,
            )
