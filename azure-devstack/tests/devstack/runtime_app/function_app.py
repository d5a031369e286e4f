"""Functions whose answers depend on whose code runs them: the Python worker's (azure-functions-runtime)
or a home-made invoker's. tests/devstack/test_funchost_runtime.py drives it; its host.json sets
routePrefix "rt". Each HTTP function reports what it received or does one thing the worker judges.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading

import azure.functions as func
from azure.functions.timer import TimerRequest  # the concrete class: it has schedule and schedule_status

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
log = logging.getLogger(__name__)

log.warning("function_app imported")  # outside any invocation: the host does not keep it


@app.route(route="ping")
async def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")  # the cost of an invocation and nothing else (runtime_bench)


@app.route(route="ping-sync")
def ping_sync(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")


@app.route(route="returns-none")
def returns_none(req: func.HttpRequest) -> func.HttpResponse:
    return None  # type: ignore[return-value]  # the worker cannot encode it


@app.route(route="returns-dict")
def returns_dict(req: func.HttpRequest) -> func.HttpResponse:
    return {"not": "a response"}  # type: ignore[return-value]


@app.route(route="raises")
async def raises(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    log.warning("about to fail in %s", context.invocation_id)
    raise ValueError("raises: deliberate failure")


@app.route(route="seen/{name?}", methods=["GET", "POST"])
def seen(req: func.HttpRequest) -> func.HttpResponse:
    body = req.get_body()
    document = {
        "method": req.method,
        "url": req.url,
        "headers": dict(req.headers),
        "params": dict(req.params),
        "route_params": dict(req.route_params),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body_length": len(body),
    }
    return func.HttpResponse(json.dumps(document), mimetype="application/json")


@app.route(route="bytes", methods=["POST"])
def echo_bytes(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.get_body(), mimetype="application/octet-stream")


@app.route(route="logs")
async def logs(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    log.info("async log with extra", extra={"detail": "never reaches the host"})
    try:
        raise RuntimeError("logged failure")
    except RuntimeError:
        log.exception("caught and logged")
    return func.HttpResponse(context.invocation_id)


@app.route(route="sync-logs")
def sync_logs(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    log.info("sync log on %s", threading.current_thread().name)
    return func.HttpResponse(context.invocation_id)


@app.route(route="cookies")
def cookies(req: func.HttpRequest) -> func.HttpResponse:
    response = func.HttpResponse("cookies")
    response.headers.add("Set-Cookie", "plain=1; Path=/")
    response.headers.add("Set-Cookie", 'spaced="a b/c"; Path=/x; Max-Age=60; Secure; HttpOnly; SameSite=Lax')
    response.headers.add("Set-Cookie", "bare=2")
    return response


@app.route(route="environment")
def environment(req: func.HttpRequest) -> func.HttpResponse:
    markers = sorted(name for name in ("CONTAINER_NAME", "WEBSITE_INSTANCE_ID") if name in os.environ)
    return func.HttpResponse(json.dumps(markers), mimetype="application/json")


@app.timer_trigger(schedule="0 0 3 * * *", arg_name="timer", run_on_startup=False, use_monitor=False)
def timer(timer: TimerRequest) -> None:
    log.info("timer past_due=%s status=%r schedule=%r", timer.past_due, timer.schedule_status, timer.schedule)
