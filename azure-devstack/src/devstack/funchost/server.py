"""The server: function routes, the admin API, and the process's serving lifetime.

Per request, in the host's order: a head Kestrel would refuse is answered 414/431/400 (connection);
the path is decoded as Kestrel decodes it, `%2F` left as it is (request_path); `/admin/...` goes to
the admin API; anything else is matched against the compiled route table (404 with an empty body
when nothing matches, including a method the route does not allow), then the function's authLevel is
checked (401 with an empty body, and a warning line naming the method and path), then the body is
read within the host's limits (body), then the function is invoked. A failed invocation answers 500
with an empty body; the traceback only goes to the log.

Two answers come from the limits (limits.HostLimits):
- A body the host cannot read (over FUNCTIONS_REQUEST_BODY_SIZE_LIMIT, 100 MB by default, or
  arriving slower than Kestrel's minimum rate) fails the invocation while its trigger is bound: 500,
  not Kestrel's 413 or 408, because the host's ExceptionMiddleware turns the binding failure into a
  500 (azure-functions-host#10519). The function never runs and the connection closes.
- An invocation still running after the response limit (230 s, counted from the end of the request,
  as the load balancer's idle timeout is) is answered 502, as the Azure front end does, and keeps
  running until it ends, as in Azure; its result is logged and discarded.
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
from devstack.funchost.body import RequestBodyError, read_body
from devstack.funchost.connection import HostServer, answer_and_close, oversized_head_status
from devstack.funchost.http_binding import to_function_request, to_web_response
from devstack.funchost.indexing import AppFunction, HttpTrigger, IndexedApp, IndexingError
from devstack.funchost.invoker import Invoker, Outcome
from devstack.funchost.keys import KEY_HEADER, KEY_QUERY_PARAMETER, AuthLevel, HostKeys, presented_key
from devstack.funchost.limits import HostLimits
from devstack.funchost.request_path import InvalidRequestTargetError, decoded_path
from devstack.funchost.routing import RouteTable, RouteTemplateError, compile_route, full_template
from devstack.funchost.timers import TimerRunner

SHUTDOWN_GRACE_SECONDS = 5.0

log = logging.getLogger("devstack.funchost")


class FunctionHost:
    def __init__(self, app: IndexedApp, keys: HostKeys, invoker: Invoker, limits: HostLimits | None = None) -> None:
        self.app = app
        self.limits = limits or HostLimits()
        self._keys = keys
        self._invoker = invoker
        self._routes = build_route_table(app)
        self.timers = TimerRunner(invoker)
        self._admin = AdminApi(app, keys, self.timers)
        # Invocations answered 502 but still running: kept referenced so they are not collected.
        self._overdue: set[asyncio.Task[Outcome[web.Response]]] = set()

    def web_server(self) -> web.Server:
        """The HTTP server for this host; call it on the event loop that will serve it."""
        return HostServer(self._dispatch, self.limits)

    def close(self) -> None:
        self._invoker.close()

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        refused = oversized_head_status(request, self.limits)
        if refused is not None:
            return await answer_and_close(request, refused)
        try:
            path = decoded_path(_origin_form_target(request))
        except InvalidRequestTargetError:
            return await answer_and_close(request, 400)
        assert isinstance(request, web.Request)  # HostServer makes every request a web.Request
        try:
            if is_admin_path(path):
                return await self._admin.handle(request)
            return await self._serve_function(request, path)
        except web.HTTPException as exc:
            # aiohttp raises these from request.read() (a body over client_max_size); its text pages
            # are not the host's answers.
            return empty(exc.status)

    async def _serve_function(self, request: web.Request, path: str) -> web.StreamResponse:
        match = self._routes.match(request.method, path)
        if match is None:
            return empty(404)
        function = match.target
        trigger = function.trigger
        assert isinstance(trigger, HttpTrigger)
        if self._keys.level_on_function_route(presented_key(request.headers, request.query)) < trigger.auth_level:
            # One line on the terminal, as `func start` shows a refused request; never the key, and the
            # path without its query string (where ?code= would be).
            log.warning("[401] %s %s: %s", request.method, path, _missing_key(trigger.auth_level))
            return empty(401)
        try:
            body = await read_body(request, self.limits)
        except RequestBodyError as exc:
            # The host's words for it, logged as its failed invocation would be.
            log.error("Exception binding parameter '%s' of 'Functions.%s': %s", trigger.parameter, function.name, exc)
            return await answer_and_close(request, 500)
        return await self._invoke(function, request, to_function_request(request, body, match.route_params))

    async def _invoke(self, function: AppFunction, request: web.Request, trigger_value: object) -> web.StreamResponse:
        invocation = asyncio.ensure_future(
            self._invoker.invoke(
                function, trigger_value, to_web_response, trace_parent=request.headers.get("traceparent")
            )
        )
        try:
            # asyncio.wait never cancels what it waits for: past the limit the invocation runs on.
            done, _ = await asyncio.wait({invocation}, timeout=self.limits.response_limit_seconds)
        except asyncio.CancelledError:
            invocation.cancel()  # the server is stopping, and its invocations stop with it
            raise
        if not done:
            self._overdue.add(invocation)
            invocation.add_done_callback(self._overdue.discard)
            log.warning(
                "Functions.%s has not answered within %s s: answering 502 as the Azure front end does; "
                "the invocation keeps running",
                function.name,
                self.limits.response_limit_seconds,
            )
            return await answer_and_close(request, 502)
        outcome = invocation.result()
        return empty(500) if outcome.value is None else outcome.value


def _missing_key(required: AuthLevel) -> str:
    which = "master key" if required >= AuthLevel.ADMIN else "function key"
    return f"the {which} is missing or wrong ({KEY_HEADER} header or ?{KEY_QUERY_PARAMETER}=)"


def _origin_form_target(request: web.BaseRequest) -> str:
    """The raw request-target, with the path of an absolute-form one (`GET http://host/x`) instead."""
    return request.raw_path if request.raw_path.startswith("/") else request.rel_url.raw_path


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
    runner = web.ServerRunner(host.web_server(), handle_signals=False)
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
