"""The devstack host with azure-functions-runtime as its worker (Python 3.13+): the behaviours where the
worker's own code answers differently from a home-made invoker, served from tests/devstack/runtime_app
by `python -m devstack.funchost` and driven over HTTP, plus the host-side conversions in-process."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest
import requests
from devstack.funchost import runtime_worker
from test_funchost import (
    MASTER_KEY,
    START_TIMEOUT_SECONDS,
    RunningHost,
    launch,
    start_host,
    stop,
    wait_for,
)

pytestmark = pytest.mark.skipif(
    not runtime_worker.available(),
    reason="azure-functions-runtime (the Python 3.13+ worker) needs Python 3.13+; 3.11/3.12 use the in-process invoker",
)

RUNTIME_APP = Path(__file__).resolve().parent / "runtime_app"
LINE_FIELDS = {"time", "level", "logger", "message", "invocationId", "functionName"}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("WEBSITE_INSTANCE_ID", "set-by-azure-only")  # this machine sets CONTAINER_NAME itself
        running = start_host(RUNTIME_APP, tmp_path_factory.mktemp("funchost-runtime"))
    yield running
    stop(running.process)


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def url(host: RunningHost, path: str) -> str:
    return f"{host.base}/rt/{path}"


def failed_line(host: RunningHost, function_name: str) -> dict[str, Any]:
    return host.wait_for_log(
        lambda r: r["functionName"] == function_name and r["level"] == "ERROR" and r.get("status") == "Failed"
    )


def raw_request(host: RunningHost, path: str, headers: list[tuple[str, str]]) -> dict[str, Any]:
    """GET with headers exactly as given, repeats included (requests would merge them)."""
    connection = HTTPConnection("127.0.0.1", host.ready["port"], timeout=10)
    try:
        connection.putrequest("GET", f"/rt/{path}")
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 200
        document: dict[str, Any] = json.loads(response.read())
        return document
    finally:
        connection.close()


# --- start-up -------------------------------------------------------------------------------------


def test_the_log_says_which_invoker_runs_the_functions(host: RunningHost) -> None:
    line = host.wait_for_log(lambda r: r["message"].startswith("Invoker: "))
    assert "azure-functions-runtime" in line["message"]


def test_the_worker_does_not_see_the_variables_that_mean_running_in_azure(
    http: requests.Session, host: RunningHost
) -> None:
    assert http.get(url(host, "environment"), timeout=10).json() == []


def test_an_http_function_annotated_to_return_none_refuses_the_whole_app(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "host.json").write_text('{"version": "2.0"}')
    (app_dir / "function_app.py").write_text(
        "import azure.functions as func\n"
        "app = func.FunctionApp()\n"
        "@app.route(route='fine')\n"
        "def fine(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse('fine')\n"
        "@app.route(route='nothing')\n"
        "def nothing(req: func.HttpRequest) -> None:\n"
        "    pass\n"
    )
    process = launch(app_dir, tmp_path / "files")
    returncode = process.wait(START_TIMEOUT_SECONDS)
    stop(process)
    stderr = (tmp_path / "files" / "stderr.log").read_text()
    assert returncode == 1
    assert "cannot be indexed, so the host will not start" in stderr
    assert 'cannot load the nothing function: Python return annotation "NoneType" does not match binding type' in stderr


# --- return values and failures ---------------------------------------------------------------------


def test_returning_none_fails_the_invocation_with_an_empty_500(http: requests.Session, host: RunningHost) -> None:
    # The in-process invoker answered 200 here; the worker cannot encode None for the http binding.
    response = http.get(url(host, "returns-none"), timeout=10)
    assert (response.status_code, response.content) == (500, b"")
    failure = failed_line(host, "returns_none")["exception"]
    assert 'unable to encode outgoing TypedData: unsupported type "http" for Python type "NoneType"' in failure


def test_returning_something_other_than_an_http_response_fails_the_invocation(
    http: requests.Session, host: RunningHost
) -> None:
    response = http.get(url(host, "returns-dict"), timeout=10)
    assert (response.status_code, response.content) == (500, b"")
    assert 'unsupported type "http" for Python type "dict"' in failed_line(host, "returns_dict")["exception"]


def test_an_exception_is_an_empty_500_logged_with_the_workers_traceback_and_invocation_id(
    http: requests.Session, host: RunningHost
) -> None:
    response = http.get(url(host, "raises"), timeout=10)
    assert (response.status_code, response.content) == (500, b"")
    failed = failed_line(host, "raises")
    invocation_id = failed["invocationId"]
    assert failed["message"].startswith(f"Executed 'Functions.raises' (Failed, Id={invocation_id}")
    # The host's RpcException text around the worker's serialised exception.
    assert failed["exception"].startswith("Result: Failure\nException: ValueError: raises: deliberate failure\n")
    assert "Stack: Traceback (most recent call last)" in failed["exception"]
    app_line = host.wait_for_log(lambda r: r["message"] == f"about to fail in {invocation_id}")
    assert (app_line["invocationId"], app_line["functionName"]) == (invocation_id, "raises")


# --- what the function receives ---------------------------------------------------------------------


def test_repeated_request_headers_reach_the_function_joined_with_commas(host: RunningHost) -> None:
    seen = raw_request(host, "seen", [("X-Dup", "one"), ("x-dup", "two"), ("X-Dup", "three"), ("X-Empty", "")])
    assert seen["headers"]["x-dup"] == "one,two,three"
    assert seen["headers"]["x-empty"] == ""  # the Python worker does not ask the host to drop empty headers


def test_repeated_query_keys_reach_the_function_joined_and_empty_values_dropped(
    http: requests.Session, host: RunningHost
) -> None:
    address = url(host, "seen/someone?tag=a&tag=b&Tag=c&empty=&q=1&q=")
    seen = http.get(address, timeout=10).json()
    assert seen["params"] == {"tag": "a,b,c", "q": "1,"}
    assert seen["url"] == address
    assert seen["route_params"] == {"name": "someone"}


def test_an_absent_optional_route_value_is_not_sent(http: requests.Session, host: RunningHost) -> None:
    assert http.get(url(host, "seen"), timeout=10).json()["route_params"] == {}


@pytest.mark.parametrize("content_type", ["application/octet-stream", "text/plain; charset=utf-8", "application/json"])
def test_binary_bodies_round_trip_byte_for_byte(http: requests.Session, host: RunningHost, content_type: str) -> None:
    body = bytes(range(256)) + b"\xff\xfe\x00\r\n" + "é".encode("latin-1")  # not UTF-8, not JSON
    response = http.post(url(host, "bytes"), data=body, headers={"Content-Type": content_type}, timeout=10)
    assert response.status_code == 200
    assert response.content == body
    assert response.headers["Content-Type"] == "application/octet-stream"
    seen = http.post(url(host, "seen"), data=body, headers={"Content-Type": content_type}, timeout=10).json()
    assert (seen["body_length"], seen["body_sha256"]) == (len(body), hashlib.sha256(body).hexdigest())


def test_an_empty_body_reaches_the_function_as_empty_bytes(http: requests.Session, host: RunningHost) -> None:
    assert http.post(url(host, "seen"), data=b"", timeout=10).json()["body_length"] == 0


# --- what the host answers ----------------------------------------------------------------------------


def test_cookies_come_back_rendered_the_way_the_host_renders_them(http: requests.Session, host: RunningHost) -> None:
    response = http.get(url(host, "cookies"), timeout=10)
    assert response.raw.headers.getlist("Set-Cookie") == [
        "plain=1; domain=; path=/",
        "spaced=a%20b%2Fc; max-age=60; domain=; path=/x; secure; samesite=lax; httponly",
        "bare=2; domain=; path=",
    ]
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


# --- logs -------------------------------------------------------------------------------------------


def test_app_log_lines_keep_the_invocation_id_and_lose_extra_fields(http: requests.Session, host: RunningHost) -> None:
    invocation_id = http.get(url(host, "logs"), timeout=10).text
    line = host.wait_for_log(lambda r: r["message"] == "async log with extra")
    assert set(line) == LINE_FIELDS  # no "detail": only the formatted message reaches the host
    assert (line["invocationId"], line["functionName"], line["logger"], line["level"]) == (
        invocation_id,
        "logs",
        "function_app",
        "INFO",
    )


def test_a_logged_exception_is_part_of_the_message(http: requests.Session, host: RunningHost) -> None:
    invocation_id = http.get(url(host, "logs"), timeout=10).text
    line = host.wait_for_log(lambda r: r["invocationId"] == invocation_id and r["level"] == "ERROR")
    assert set(line) == LINE_FIELDS
    assert line["message"].startswith("caught and logged\nTraceback (most recent call last)")
    assert "RuntimeError: logged failure" in line["message"]


def test_a_sync_functions_logs_carry_its_invocation_id_from_the_pool_thread(
    http: requests.Session, host: RunningHost
) -> None:
    invocation_id = http.get(url(host, "sync-logs"), timeout=10).text
    line = host.wait_for_log(lambda r: r["message"].startswith("sync log on ThreadPoolExecutor-"))
    assert (line["invocationId"], line["functionName"]) == (invocation_id, "sync_logs")


def test_logs_outside_an_invocation_and_the_workers_own_logs_are_not_shown(
    http: requests.Session, host: RunningHost
) -> None:
    http.get(url(host, "logs"), timeout=10)
    wait_for(lambda: any(r["message"] == "async log with extra" for r in host.log_records()) or None)
    records = host.log_records()
    assert not [r for r in records if r["message"] == "function_app imported"]
    assert not [r for r in records if str(r["logger"]).startswith(("azure.functions", "azure_functions_worker"))]


def test_a_timer_receives_the_timer_info_the_host_sends(http: requests.Session, host: RunningHost) -> None:
    response = http.post(
        f"{host.base}/admin/functions/timer",
        params={"wait": "true"},
        json={"input": ""},
        headers={"x-functions-key": MASTER_KEY},
        timeout=10,
    )
    assert response.json()["status"] == "Succeeded"
    line = host.wait_for_log(
        lambda r: r["invocationId"] == response.json()["invocationId"] and r["logger"] != "devstack.funchost"
    )
    # ScheduleStatus is null without a schedule monitor; TimerRequest shows that as {}.
    assert line["message"] == "timer past_due=False status={} schedule={'AdjustForDST': True}"


# --- host-side conversions, in-process -----------------------------------------------------------------


@pytest.fixture(scope="module")
def protos() -> Any:
    from devstack.funchost import runtime_protos  # noqa: PLC0415  # needs the 3.13+ packages

    return runtime_protos.load()


def test_an_http_result_string_is_plain_text_and_no_value_fails(protos: Any) -> None:
    from devstack.funchost import runtime_http  # noqa: PLC0415

    result = runtime_http.http_result(protos.TypedData(string="hello"))
    assert (result.status, result.headers, result.body) == (
        200,
        (("Content-Type", "text/plain; charset=utf-8"),),
        b"hello",
    )
    with pytest.raises(runtime_http.UnexpectedReturnValueError):
        runtime_http.http_result(None)


def test_a_response_header_in_two_spellings_is_written_once_and_the_status_defaults_to_200(protos: Any) -> None:
    from devstack.funchost import runtime_http  # noqa: PLC0415

    http = protos.RpcHttp(status_code="", headers={"X-A": "1", "x-a": "2", "content-type": "text/csv"})
    result = runtime_http.http_result(protos.TypedData(http=http))
    assert (result.status, result.body) == (200, b"")
    assert result.headers[0] == ("Content-Type", "text/csv")
    # Which spelling comes first depends on the map's order, which protobuf leaves unspecified.
    assert [name.lower() for name, _ in result.headers[1:]] == ["x-a"]


def test_an_expiring_cookie_is_rendered_with_an_http_date(protos: Any) -> None:
    from devstack.funchost import runtime_http  # noqa: PLC0415

    cookie = protos.RpcHttpCookie(
        name="gone",
        value="",
        expires=protos.NullableTimestamp(value={"seconds": 0}),
        same_site=protos.RpcHttpCookie.SameSite.Value("ExplicitNone"),
    )
    assert runtime_http.render_cookie(cookie) == "gone=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/; samesite=none"


def test_records_below_debug_and_system_categories_never_become_lines(protos: Any) -> None:
    from devstack.funchost.context import Invocation, current_invocation  # noqa: PLC0415
    from devstack.funchost.runtime_logs import WorkerLogRoute  # noqa: PLC0415

    invocation = Invocation("f", id=str(uuid.uuid4()))
    route = WorkerLogRoute(protos, {invocation.id: "f"})
    token = current_invocation.set(invocation)
    try:
        lines = [
            route(logging.LogRecord(name, level, __file__, 1, "message", None, None))
            for name, level in [("app", 5), ("azure.functions", logging.INFO), ("app", logging.DEBUG)]
        ]
    finally:
        current_invocation.reset(token)
    assert lines[:2] == [None, None]
    assert lines[2] is not None
    assert (lines[2]["level"], lines[2]["invocationId"]) == ("DEBUG", invocation.id)
