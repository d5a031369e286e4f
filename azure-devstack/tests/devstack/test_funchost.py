"""The devstack function host, run the way the stack runs it: `python -m devstack.funchost` in a
subprocess serving tests/devstack/sample_app, driven over HTTP. Route templates are also checked
in-process, where a table of cases is cheaper than a function per case."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import azure.functions as func
import pytest
import requests
from aiohttp.test_utils import make_mocked_request
from devstack.funchost import runtime_worker, worker_index
from devstack.funchost.http_binding import result_of, to_function_request, to_web_response
from devstack.funchost.routing import RouteTemplateError, compile_route, full_template
from multidict import CIMultiDict

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # azure-devstack/
SAMPLE_APP = Path(__file__).resolve().parent / "sample_app"
# On Python 3.13+ the host runs azure-functions-runtime, the worker's own code (test_funchost_runtime.py
# pins where that differs); a few expectations below say what each invoker answers.
RUNTIME_WORKER = runtime_worker.available()
FUNCTION_KEY = "sample-function-key"
MASTER_KEY = "sample-master-key"
START_TIMEOUT_SECONDS = 15.0
EXIT_TIMEOUT_SECONDS = 5.0
JSON = {"Content-Type": "application/json"}
SAMPLE_FUNCTIONS = [
    "echo",
    "secured",
    "admin_only",
    "item",
    "doc",
    "catalog",
    "files",
    "environment",
    "boom",
    "wrong_return",
    "nightly",
    "warmup",
    "failing_timer",
]


@dataclass
class RunningHost:
    process: subprocess.Popen[bytes]
    ready: dict[str, Any]
    stderr_path: Path
    files: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.ready['port']}"

    def log_records(self) -> list[dict[str, Any]]:
        lines = self.stderr_path.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def wait_for_log(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        return wait_for(lambda: next((r for r in self.log_records() if predicate(r)), None))

    def lines_of(self, name: str) -> list[dict[str, Any]]:
        path = self.files / name
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float = 5.0) -> T:
    deadline = time.monotonic() + timeout
    while (value := probe()) is None:
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
    return value


def host_environment(files: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("DEVSTACK_")}
    env.update(
        DEVSTACK_FUNCTION_KEY=FUNCTION_KEY,
        DEVSTACK_MASTER_KEY=MASTER_KEY,
        SAMPLE_SETTING="from-the-environment",
        SAMPLE_TIMER_FILE=str(files / "nightly.jsonl"),
        SAMPLE_STARTUP_FILE=str(files / "warmup.jsonl"),
    )
    env.update(extra)
    return env


def launch(app_dir: Path, files: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    files.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "devstack.funchost", "--app-dir", str(app_dir), "--host", "127.0.0.1", "--port", "0"]
    with (files / "stderr.log").open("wb") as stderr:
        return subprocess.Popen(
            [*argv, *args],
            cwd=PACKAGE_ROOT,
            env=env or host_environment(files),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )


def start_host(app_dir: Path, files: Path, *args: str) -> RunningHost:
    process = launch(app_dir, files, *args)
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(START_TIMEOUT_SECONDS):
            stop(process)
            raise AssertionError(f"no ready line; stderr: {(files / 'stderr.log').read_text()[-2000:]}")
    line = process.stdout.readline()
    ready = json.loads(line) if line else {}
    if ready.get("event") != "ready":
        stop(process)
        raise AssertionError(f"host did not start ({line!r}); stderr: {(files / 'stderr.log').read_text()[-2000:]}")
    return RunningHost(process, ready, files / "stderr.log", files)


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(EXIT_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()
    return process.returncode


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(SAMPLE_APP, tmp_path_factory.mktemp("funchost"))
    yield running
    stop(running.process)


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get(http: requests.Session, host: RunningHost, path: str, **kwargs: Any) -> requests.Response:
    return http.get(host.base + path, timeout=10, **kwargs)


# --- start-up -------------------------------------------------------------------------------------


def test_ready_line_lists_every_function(host: RunningHost) -> None:
    assert host.ready["functions"] == SAMPLE_FUNCTIONS


def test_run_on_startup_timer_runs_once_at_start(host: RunningHost) -> None:
    assert wait_for(lambda: host.lines_of("warmup.jsonl") or None) == [{"past_due": False}]


def test_app_sees_its_settings_and_directory_but_not_the_host_keys(http: requests.Session, host: RunningHost) -> None:
    seen = get(http, host, "/sample/environment").json()
    assert seen == {"setting": "from-the-environment", "host_keys_visible": [], "cwd": str(SAMPLE_APP)}


def test_route_prefix_comes_from_host_json(http: requests.Session, host: RunningHost) -> None:
    assert get(http, host, "/sample/items/1").status_code == 200
    assert get(http, host, "/api/items/1").status_code == 404
    assert get(http, host, "/items/1").status_code == 404


# --- keys and authorization levels ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        ({}, {}, 401),
        ({"x-functions-key": "not-a-key"}, {}, 401),
        ({"x-functions-key": FUNCTION_KEY}, {}, 200),
        ({}, {"code": FUNCTION_KEY}, 200),
        ({"x-functions-key": MASTER_KEY}, {}, 200),
        ({}, {"code": MASTER_KEY}, 200),
        ({"x-functions-key": "not-a-key"}, {"code": FUNCTION_KEY}, 401),  # the header wins when present
    ],
)
def test_function_level_accepts_the_function_or_master_key(
    http: requests.Session, host: RunningHost, headers: dict[str, str], query: dict[str, str], status: int
) -> None:
    response = get(http, host, "/sample/secured", headers=headers, params=query)
    assert response.status_code == status
    if status == 401:
        assert response.content == b""
    else:
        assert response.text == "secret area"
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize(("key", "status"), [(None, 401), (FUNCTION_KEY, 401), (MASTER_KEY, 204)])
def test_admin_level_accepts_only_the_master_key(
    http: requests.Session, host: RunningHost, key: str | None, status: int
) -> None:
    headers = {"x-functions-key": key} if key else {}
    response = get(http, host, "/sample/admin-only", headers=headers)
    assert (response.status_code, response.content) == (status, b"")


def test_anonymous_level_ignores_keys(http: requests.Session, host: RunningHost) -> None:
    doc_id = str(uuid.uuid4())
    for headers in ({}, {"x-functions-key": "not-a-key"}):
        assert get(http, host, f"/sample/docs/{doc_id}", headers=headers).json() == {"doc_id": doc_id}


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("not-a-key", 401), (FUNCTION_KEY, 401), (MASTER_KEY, 200)])
def test_admin_api_needs_the_master_key(
    http: requests.Session, host: RunningHost, key: str | None, status: int
) -> None:
    response = get(http, host, "/admin/host/status", headers={"x-functions-key": key} if key else {})
    assert response.status_code == status
    if status == 200:
        assert response.json() == {"state": "Running", "version": "devstack"}
    else:
        assert response.content == b""


# --- routing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/sample/items/42", 200),
        ("GET", "/SAMPLE/Items/42/", 200),  # literals are case-insensitive; a trailing slash is ignored
        ("GET", "/sample/items/abc", 404),  # int constraint
        ("GET", "/sample/items/99999999999", 404),  # beyond Int32
        ("DELETE", "/sample/items/42", 404),  # a method mismatch is a route mismatch: 404, not 405
        ("GET", "/sample/echo", 404),
        ("GET", f"/sample/docs/{uuid.uuid4()}", 200),
        ("GET", "/sample/docs/not-a-guid", 404),
        ("GET", "/sample/no-such-function", 404),
    ],
)
def test_routes_match_like_the_host(
    http: requests.Session, host: RunningHost, method: str, path: str, status: int
) -> None:
    response = http.request(method, host.base + path, timeout=10)
    assert response.status_code == status
    if status == 404:
        assert response.content == b""


@pytest.mark.parametrize(
    ("path", "route_params"),
    [
        ("/sample/catalog", {}),
        ("/sample/catalog/books", {"category": "books"}),
        ("/sample/catalog/books/3", {"category": "books", "page": "3"}),
        ("/sample/files", {}),
        ("/sample/files/a/b/c.txt", {"path": "a/b/c.txt"}),
    ],
)
def test_optional_and_catch_all_parameters(
    http: requests.Session, host: RunningHost, path: str, route_params: dict[str, str]
) -> None:
    assert get(http, host, path).json() == route_params


def test_optional_parameters_still_check_their_constraints(http: requests.Session, host: RunningHost) -> None:
    assert get(http, host, "/sample/catalog/123").status_code == 404  # "123" is not alpha
    assert get(http, host, "/sample/catalog/books/three").status_code == 404


# --- requests, responses and invocations ------------------------------------------------------------


def test_request_reaches_the_function_as_the_host_sends_it(http: requests.Session, host: RunningHost) -> None:
    url = host.base + "/sample/echo?tag=a&Tag=b&empty=&q=1"
    response = http.post(url, data=b"payload bytes", headers={"X-Custom": "Value", "Content-Type": "text/plain"})
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["url"] == url
    assert seen["params"] == {"tag": "a,b", "q": "1"}  # repeated names joined (any case), empty values dropped
    assert seen["headers"]["x-custom"] == "Value"  # names lower-cased
    assert seen["headers"]["content-type"] == "text/plain"
    assert seen["body"] == "payload bytes"
    assert seen["route_params"] == {}


def test_response_status_headers_and_mimetype_come_back(http: requests.Session, host: RunningHost) -> None:
    response = http.put(host.base + "/sample/echo", data=b"x", timeout=10)
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    # azure-functions-runtime sends cookies as RpcHttpCookie and the host renders them ASP.NET's way.
    cookies = ["a=1; domain=; path=/", "b=2; domain=; path=/"] if RUNTIME_WORKER else ["a=1; Path=/", "b=2; Path=/"]
    assert response.raw.headers.getlist("Set-Cookie") == cookies
    assert response.headers["X-Echo"] == "last"  # the worker sends headers as a map: the last value wins


def test_async_functions_run_on_the_event_loop_and_sync_ones_in_the_pool(
    http: requests.Session, host: RunningHost
) -> None:
    assert http.post(host.base + "/sample/echo", data=b"", timeout=10).json()["thread"] == "MainThread"
    pool_thread = "ThreadPoolExecutor-" if RUNTIME_WORKER else "function_"  # the runtime's own pool
    assert get(http, host, "/sample/items/1").json()["thread"].startswith(pool_thread)


def test_context_describes_the_invocation(http: requests.Session, host: RunningHost) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    seen = get(http, host, "/sample/items/7", headers=headers).json()
    assert seen["id"] == "7"
    assert uuid.UUID(seen["invocation_id"]).version == 4
    assert seen["function_name"] == "item"
    assert seen["function_directory"] == str(SAMPLE_APP)
    assert seen["trace_parent"].split("-")[1] == trace_id  # the caller's trace continues
    assert seen["retry_count"] == 0


def test_log_lines_are_json_and_carry_the_invocation_id(http: requests.Session, host: RunningHost) -> None:
    invocation_id = get(http, host, "/sample/items/8").json()["invocation_id"]
    app_line = host.wait_for_log(lambda r: r["message"] == "looking up item 8")
    assert app_line["invocationId"] == invocation_id
    assert (app_line["functionName"], app_line["logger"], app_line["level"]) == ("item", "function_app", "INFO")
    done = host.wait_for_log(lambda r: r["invocationId"] == invocation_id and r["logger"] == "devstack.funchost")
    assert done["message"].startswith(f"Executed 'Functions.item' (Succeeded, Id={invocation_id}")
    assert done["status"] == "Succeeded"
    assert isinstance(done["durationMs"], float)


@pytest.mark.skipif(RUNTIME_WORKER, reason="the worker drops extra fields (test_funchost_runtime.py pins that)")
def test_extra_fields_passed_by_the_app_are_logged(http: requests.Session, host: RunningHost) -> None:
    http.post(host.base + "/sample/echo", data=b"12345", timeout=10)
    assert host.wait_for_log(lambda r: r.get("bodyBytes") == 5)["functionName"] == "echo"


def test_an_exception_is_an_empty_500_and_a_logged_traceback(http: requests.Session, host: RunningHost) -> None:
    response = get(http, host, "/sample/boom")
    assert (response.status_code, response.content) == (500, b"")
    failed = host.wait_for_log(lambda r: r["functionName"] == "boom" and r["level"] == "ERROR")
    assert failed["status"] == "Failed"
    assert "Traceback (most recent call last)" in failed["exception"]
    assert "RuntimeError: boom: deliberate failure" in failed["exception"]


def test_a_return_value_the_trigger_cannot_send_fails_the_invocation(http: requests.Session, host: RunningHost) -> None:
    response = get(http, host, "/sample/wrong-return")
    assert (response.status_code, response.content) == (500, b"")
    failed = host.wait_for_log(lambda r: r["functionName"] == "wrong_return" and r["level"] == "ERROR")
    if RUNTIME_WORKER:  # the worker's HttpResponseConverter refuses it
        assert (
            'unable to encode outgoing TypedData: unsupported type "http" for Python type "dict"' in failed["exception"]
        )
    else:
        assert "must return func.HttpResponse, str or None, not dict" in failed["exception"]


# --- admin API and timers ---------------------------------------------------------------------------


def admin_post(http: requests.Session, host: RunningHost, name: str, *, wait: bool, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("headers", {"x-functions-key": MASTER_KEY})
    kwargs.setdefault("json", {"input": ""})
    params = {"wait": "true"} if wait else {}
    return http.post(f"{host.base}/admin/functions/{name}", params=params, timeout=10, **kwargs)


def test_admin_invoke_runs_a_timer_in_the_background_with_202(http: requests.Session, host: RunningHost) -> None:
    before = len(host.lines_of("nightly.jsonl"))
    response = admin_post(http, host, "nightly", wait=False)
    assert (response.status_code, response.content) == (202, b"")
    wait_for(lambda: len(host.lines_of("nightly.jsonl")) > before or None)


def test_admin_invoke_with_wait_reports_success_after_the_side_effect(
    http: requests.Session, host: RunningHost
) -> None:
    response = admin_post(http, host, "NIGHTLY", wait=True)  # names are case-insensitive
    assert response.status_code == 200
    result = response.json()
    assert result["status"] == "Succeeded"
    assert {"past_due": False, "invocation_id": result["invocationId"]} in host.lines_of("nightly.jsonl")


def test_admin_invoke_with_wait_reports_a_failing_timer(http: requests.Session, host: RunningHost) -> None:
    response = admin_post(http, host, "failing_timer", wait=True)
    assert (response.status_code, response.json()["status"]) == (500, "Failed")
    failed = host.wait_for_log(lambda r: r["invocationId"] == response.json()["invocationId"] and r["level"] == "ERROR")
    assert "ValueError: failing_timer: deliberate failure" in failed["exception"]


@pytest.mark.parametrize(
    ("name", "kwargs", "status"),
    [
        ("nightly", {"headers": {"x-functions-key": FUNCTION_KEY}}, 401),
        ("nightly", {"headers": {}}, 401),
        ("no_such_function", {}, 404),
        ("nightly", {"json": None, "data": b"input", "headers": {"x-functions-key": MASTER_KEY}}, 415),
        ("nightly", {"json": None, "data": b"", "headers": {"x-functions-key": MASTER_KEY, **JSON}}, 400),
        ("nightly", {"json": ["not", "an", "object"]}, 400),
        ("item", {}, 400),  # HTTP functions are called on their routes
    ],
)
def test_admin_invoke_refuses_like_the_host(
    http: requests.Session, host: RunningHost, name: str, kwargs: dict[str, Any], status: int
) -> None:
    assert admin_post(http, host, name, wait=True, **kwargs).status_code == status


def test_admin_lists_function_metadata(http: requests.Session, host: RunningHost) -> None:
    listed = get(http, host, "/admin/functions", headers={"x-functions-key": MASTER_KEY}).json()
    by_name = {entry["name"]: entry for entry in listed}
    assert list(by_name) == SAMPLE_FUNCTIONS
    item = by_name["item"]
    assert item["invoke_url_template"] == f"{host.base}/sample/items/{{id:int}}"
    assert item["config"]["bindings"][0] == {
        "direction": "IN",
        "type": "httpTrigger",
        "name": "req",
        "methods": ["GET"],
        "authLevel": "ANONYMOUS",
        "route": "items/{id:int}",
    }
    assert by_name["nightly"]["invoke_url_template"] is None
    assert by_name["nightly"]["config"]["bindings"][0]["schedule"] == "0 0 3 * * *"


@pytest.mark.skipif(
    not worker_index.available(), reason="the worker's indexing needs Python 3.13+ and azure-functions-runtime"
)
def test_the_real_workers_indexing_agrees_with_what_is_served(http: requests.Session, host: RunningHost) -> None:
    served = get(http, host, "/admin/functions", headers={"x-functions-key": MASTER_KEY}).json()
    served_triggers = {entry["name"]: entry["config"]["bindings"][0] for entry in served}
    worker = worker_index.worker_metadata(SAMPLE_APP)
    worker_triggers = {entry["name"]: entry["raw_bindings"][0] for entry in worker}
    assert list(worker_triggers) == SAMPLE_FUNCTIONS
    for name, binding in worker_triggers.items():
        assert binding["type"] == served_triggers[name]["type"]
        assert binding.get("authLevel") == served_triggers[name].get("authLevel")
        assert binding.get("route") == served_triggers[name].get("route")
    assert worker_triggers["secured"]["authLevel"] == "FUNCTION"
    assert worker_triggers["admin_only"]["authLevel"] == "ADMIN"


# --- process lifetime and start-up failures ---------------------------------------------------------


def test_end_of_stdin_stops_the_host(tmp_path: Path) -> None:
    running = start_host(SAMPLE_APP, tmp_path)
    assert running.process.stdin is not None
    running.process.stdin.close()  # what the host sees when its parent dies
    assert running.process.wait(EXIT_TIMEOUT_SECONDS) == 0
    stop(running.process)


def test_sigterm_stops_the_host_cleanly(tmp_path: Path) -> None:
    running = start_host(SAMPLE_APP, tmp_path)
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(EXIT_TIMEOUT_SECONDS) == 0
    stop(running.process)
    assert any(r["message"] == "Stopping the devstack function host" for r in running.log_records())


def test_no_stdin_watch_keeps_the_host_running_after_end_of_stdin(tmp_path: Path) -> None:
    running = start_host(SAMPLE_APP, tmp_path, "--no-stdin-watch")
    assert running.process.stdin is not None
    running.process.stdin.close()
    time.sleep(0.5)
    assert running.process.poll() is None
    assert stop(running.process) == 0


BROKEN_APPS = {
    "import_error": ("import no_such_module_anywhere\n", "no_such_module_anywhere"),
    "no_function_app": ("import azure.functions as func\n", "function app"),
    "bad_route_constraint": (
        "import azure.functions as func\n"
        "app = func.FunctionApp()\n"
        "@app.route(route='x/{id:integer}')\n"
        "def x(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse('x')\n",
        "unknown route constraint 'integer'",
    ),
    "unbound_parameter": (
        "import azure.functions as func\n"
        "app = func.FunctionApp()\n"
        "@app.route(route='x')\n"
        "def x(req: func.HttpRequest, extra: str) -> func.HttpResponse:\n"
        "    return func.HttpResponse('x')\n",
        "extra",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_APPS))
def test_an_app_that_cannot_be_indexed_stops_the_start(tmp_path: Path, case: str) -> None:
    source, detail = BROKEN_APPS[case]
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "function_app.py").write_text(source)
    (app_dir / "host.json").write_text('{"version": "2.0"}')
    process = launch(app_dir, tmp_path / "files")
    returncode = process.wait(START_TIMEOUT_SECONDS)  # stdin stays open: closing it would stop the host too
    stop(process)
    stderr = (tmp_path / "files" / "stderr.log").read_text()
    assert returncode == 1
    assert "cannot be indexed, so the host will not start" in stderr
    assert detail in stderr


def test_missing_host_keys_stop_the_start(tmp_path: Path) -> None:
    env = host_environment(tmp_path)
    del env["DEVSTACK_MASTER_KEY"]
    process = launch(SAMPLE_APP, tmp_path, env=env)
    returncode = process.wait(START_TIMEOUT_SECONDS)
    stop(process)
    assert returncode == 2
    assert "DEVSTACK_MASTER_KEY" in (tmp_path / "stderr.log").read_text()


# --- route templates, in-process --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("api/items/{id:int}", "/api/items/-5", {"id": "-5"}),
        ("api/items/{id:int:min(1)}", "/api/items/0", None),
        ("api/items/{id:long}", "/api/items/99999999999", {"id": "99999999999"}),
        (
            "api/d/{id:guid}",
            "/api/d/{0f8fad5b-d9cb-469f-a165-70867728950e}",
            {"id": "{0f8fad5b-d9cb-469f-a165-70867728950e}"},
        ),
        ("api/d/{id:guid}", "/api/d/0f8fad5bd9cb469fa16570867728950e", {"id": "0f8fad5bd9cb469fa16570867728950e"}),
        ("api/d/{id:guid}", "/api/d/0f8fad5b-d9cb-469f-a165", None),
        ("api/n/{name:alpha}", "/api/n/Abc", {"name": "Abc"}),
        ("api/n/{name:alpha}", "/api/n/abc1", None),
        ("api/n/{name:length(3)}", "/api/n/abcd", None),
        ("api/n/{name:length(2,4)}", "/api/n/abcd", {"name": "abcd"}),
        ("api/z/{zip:regex(^\\d{{5}}$)}", "/api/z/12345", {"zip": "12345"}),
        ("api/z/{zip:regex(^\\d{{5}}$)}", "/api/z/1234", None),
        ("api/z/{code:regex(ab)}", "/api/z/xxABxx", {"code": "xxABxx"}),  # unanchored, case-insensitive
        ("api/f/{name}.{ext}", "/api/f/archive.tar.gz", {"name": "archive.tar", "ext": "gz"}),
        ("api/v/{version=latest}", "/api/v", {"version": "latest"}),
        ("api/v/{version=latest}", "/api/v/2", {"version": "2"}),
        ("api/o/{a?}/{b:int?}", "/api/o/x/1", {"a": "x", "b": "1"}),
        ("api/o/{a?}/{b:int?}", "/api/o/", {}),
        ("api/r/{**rest}", "/api/r/a/b", {"rest": "a/b"}),
        ("{*all}", "/anything/at/all", {"all": "anything/at/all"}),
        ("api/b/{flag:bool}", "/api/b/TRUE", {"flag": "TRUE"}),
        ("api/x/{n:double}", "/api/x/-1.5e3", {"n": "-1.5e3"}),
        ("api/x/{n:range(1,10)}", "/api/x/11", None),
    ],
)
def test_route_templates(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert compile_route(template, "target").match("GET", path) == expected


@pytest.mark.parametrize(
    "template",
    [
        "a/{x?}/b",  # required segment after an optional one
        "a/{*rest}/b",  # catch-all not last
        "a/{x:nope}",  # unknown constraint
        "a/{x}{y}",  # adjacent parameters
        "a//b",  # empty segment
        "a/{x}/{X}",  # duplicate name (names are case-insensitive)
        "a/{x",  # unterminated
        "a/{x:regex(()}",  # invalid regex
        "a/{x:length(a)}",  # bad constraint argument
    ],
)
def test_invalid_route_templates_are_rejected(template: str) -> None:
    with pytest.raises(RouteTemplateError):
        compile_route(template, "target")


@pytest.mark.parametrize(
    ("prefix", "route", "template"),
    [("api", "items/{id}", "api/items/{id}"), ("", "items", "items"), ("/v1/", "/x", "v1/x"), ("api", "~/", "api")],
)
def test_the_route_prefix_is_joined_like_the_host_does(prefix: str, route: str, template: str) -> None:
    assert full_template(prefix, route) == template


# --- request and response conversion, in-process ----------------------------------------------------


def test_repeated_request_headers_are_joined_like_the_host_does() -> None:
    headers = CIMultiDict([("Host", "example"), ("X-Multi", "a"), ("x-multi", "b")])
    request = make_mocked_request("GET", "/sample/x?code=k", headers=headers)
    converted = to_function_request(request, b"", {"id": "1"})
    assert converted.headers["x-multi"] == "a,b"
    assert converted.url == "http://example/sample/x?code=k"
    assert converted.query == {"code": "k"}  # the key reaches the function, as in Azure
    assert dict(converted.route_params) == {"id": "1"}


@pytest.mark.parametrize(
    ("response", "content_type"),
    [
        (func.HttpResponse("x", mimetype="text/html", charset="latin-1"), "text/html; charset=latin-1"),
        (func.HttpResponse(b"x", mimetype="application/octet-stream"), "application/octet-stream"),
        (func.HttpResponse("x", headers={"Content-Type": "application/problem+json"}), "application/problem+json"),
    ],
)
def test_response_content_type_follows_the_worker(response: func.HttpResponse, content_type: str) -> None:
    assert to_web_response(result_of(response)).headers["Content-Type"] == content_type
