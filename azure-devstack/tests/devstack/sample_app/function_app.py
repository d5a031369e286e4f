"""Functions that exercise every feature of the devstack host, each reporting what it received.

Its host.json sets routePrefix "sample". App settings it reads: SAMPLE_SETTING (echoed back),
SAMPLE_TIMER_FILE and SAMPLE_STARTUP_FILE (where the timers append one JSON line per run).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
log = logging.getLogger(__name__)


def _json(document: Any, status_code: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(document), status_code=status_code, mimetype="application/json")


def _append_line(setting: str, document: dict[str, Any]) -> None:
    with Path(os.environ[setting]).open("a", encoding="utf-8") as file:
        file.write(json.dumps(document) + "\n")


@app.route(route="echo", methods=["POST", "PUT"], auth_level=func.AuthLevel.ANONYMOUS)
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    log.info("echoing a request", extra={"bodyBytes": len(req.get_body())})
    document = {
        "method": req.method,
        "url": req.url,
        "headers": dict(req.headers),
        "params": dict(req.params),
        "route_params": dict(req.route_params),
        "body": req.get_body().decode(),
        "thread": threading.current_thread().name,
    }
    response = func.HttpResponse(json.dumps(document), status_code=201, mimetype="application/json")
    response.headers.add("Set-Cookie", "a=1; Path=/")
    response.headers.add("Set-Cookie", "b=2; Path=/")
    response.headers["X-Echo"] = "first"
    response.headers.add("X-Echo", "last")
    return response


@app.route(route="secured")
def secured(req: func.HttpRequest) -> str:
    return "secret area"


@app.route(route="admin-only", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(status_code=204)


@app.route(route="items/{id:int}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def item(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    log.info("looking up item %s", req.route_params["id"])
    return _json(
        {
            "id": req.route_params["id"],
            "invocation_id": context.invocation_id,
            "function_name": context.function_name,
            "function_directory": context.function_directory,
            "trace_parent": context.trace_context.trace_parent,
            "retry_count": context.retry_context.retry_count,
            "thread": threading.current_thread().name,
        }
    )


@app.route(route="docs/{doc_id:guid}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def doc(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"doc_id": req.route_params["doc_id"]})


@app.route(route="catalog/{category:alpha?}/{page:int?}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def catalog(req: func.HttpRequest) -> func.HttpResponse:
    return _json(dict(req.route_params))


@app.route(route="files/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def files(req: func.HttpRequest) -> func.HttpResponse:
    return _json(dict(req.route_params))


@app.route(route="environment", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def environment(req: func.HttpRequest) -> func.HttpResponse:
    return _json(
        {
            "setting": os.environ.get("SAMPLE_SETTING"),
            "host_keys_visible": sorted(name for name in os.environ if name.startswith("DEVSTACK_")),
            "cwd": os.getcwd(),
        }
    )


@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
async def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom: deliberate failure")


@app.route(route="wrong-return", auth_level=func.AuthLevel.ANONYMOUS)
def wrong_return(req: func.HttpRequest) -> func.HttpResponse:
    return {"not": "a response"}  # type: ignore[return-value]  # the host must fail this invocation


@app.timer_trigger(schedule="0 0 3 * * *", arg_name="timer", run_on_startup=False, use_monitor=False)
def nightly(timer: func.TimerRequest, context: func.Context) -> None:
    log.info("nightly run")
    _append_line("SAMPLE_TIMER_FILE", {"past_due": timer.past_due, "invocation_id": context.invocation_id})


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=True, use_monitor=False)
async def warmup(timer: func.TimerRequest) -> None:
    _append_line("SAMPLE_STARTUP_FILE", {"past_due": timer.past_due})


@app.timer_trigger(schedule="0 0 4 * * *", arg_name="timer", run_on_startup=False, use_monitor=False)
def failing_timer(timer: func.TimerRequest) -> None:
    raise ValueError("failing_timer: deliberate failure")
