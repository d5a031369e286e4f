"""The devstack function host at its edges: encoded paths, body and header limits, and timeouts.

Each host runs as test_funchost runs one (`python -m devstack.funchost` in a subprocess), serving a
small app written here, with the devstack's timeout settings shortened to about a second. Requests
go over raw sockets, because the behaviour is on the wire: a status before the body is sent, a
connection closed after an answer, bytes that never arrive. Path decoding and the limit settings
are also checked in-process, where a table of cases is cheaper than a request per case.
"""

from __future__ import annotations

import json
import selectors
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from devstack.funchost.limits import HostLimits, LimitSettingError
from devstack.funchost.request_path import InvalidRequestTargetError, decoded_path
from test_funchost import (
    EXIT_TIMEOUT_SECONDS,
    START_TIMEOUT_SECONDS,
    RunningHost,
    host_environment,
    launch,
    stop,
    wait_for,
)

EDGE_APP = """
import asyncio
import hashlib
import json
import os
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _json(document) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(document), mimetype="application/json")


@app.route(route="segment/{value}", methods=["GET"])
def segment(req: func.HttpRequest) -> func.HttpResponse:
    return _json(dict(req.route_params))


@app.route(route="rest/{*path}", methods=["GET"])
def rest(req: func.HttpRequest) -> func.HttpResponse:
    return _json(dict(req.route_params))


@app.route(route="shelves/{shelf}/books", methods=["GET"])
def list_events(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"listed": req.route_params["shelf"]})


@app.route(route="body", methods=["POST"])
async def body(req: func.HttpRequest) -> func.HttpResponse:
    received = req.get_body()
    return _json({"size": len(received), "sha256": hashlib.sha256(received).hexdigest()})


@app.route(route="secured", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def secured(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("secured")


@app.route(route="slow", methods=["GET"])
async def slow(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(float(req.params["seconds"]))
    Path(os.environ["EDGE_DONE_FILE"]).write_text(req.params["tag"])
    return func.HttpResponse("finished")
"""
SHORT_SECONDS = "1"
SHORT_TIMEOUTS = {
    "DEVSTACK_HTTP_RESPONSE_LIMIT_SECONDS": SHORT_SECONDS,
    "DEVSTACK_REQUEST_HEADERS_TIMEOUT_SECONDS": SHORT_SECONDS,
    "DEVSTACK_REQUEST_BODY_GRACE_SECONDS": SHORT_SECONDS,
}
SMALL_BODY_LIMIT = 1024
HUNDRED_MB = 104_857_600
# What the host's 1 s timeouts may take on a busy 2-core machine, and what "at once" means.
LATE_SECONDS = 4.0
PROMPT_SECONDS = 2.0


# --- hosts ----------------------------------------------------------------------------------------


def write_app(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "function_app.py").write_text(EDGE_APP)
    (directory / "host.json").write_text('{"version": "2.0"}')
    return directory


def start_edge_host(app_dir: Path, files: Path, **settings: str) -> RunningHost:
    """test_funchost.start_host, with settings of our own in the host's environment."""
    env = host_environment(files, EDGE_DONE_FILE=str(files / "done.txt"), **settings)
    process = launch(app_dir, files, env=env)
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        ready_in_time = bool(selector.select(START_TIMEOUT_SECONDS))
    ready = json.loads(process.stdout.readline() or "{}") if ready_in_time else {}
    if ready.get("event") != "ready":
        stop(process)
        raise AssertionError(f"host did not start; stderr: {(files / 'stderr.log').read_text()[-2000:]}")
    return RunningHost(process, ready, files / "stderr.log", files)


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_app(tmp_path_factory.mktemp("edge_app"))


@pytest.fixture(scope="module")
def host(app_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    """The host's default size limits, its timeouts shortened to a second."""
    running = start_edge_host(app_dir, tmp_path_factory.mktemp("edge_host"), **SHORT_TIMEOUTS)
    yield running
    stop(running.process)


@pytest.fixture(scope="module")
def small_host(app_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    """FUNCTIONS_REQUEST_BODY_SIZE_LIMIT set, as an app can set it in Azure."""
    files = tmp_path_factory.mktemp("edge_small_host")
    running = start_edge_host(app_dir, files, FUNCTIONS_REQUEST_BODY_SIZE_LIMIT=str(SMALL_BODY_LIMIT))
    yield running
    stop(running.process)


# --- the wire -------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Wire:
    """One client connection, sending bytes exactly as given and reading answers as they come."""

    def __init__(self, running: RunningHost, timeout: float = 10.0) -> None:
        self._socket = socket.create_connection(("127.0.0.1", running.ready["port"]), timeout=timeout)
        self._buffer = b""

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._socket.close()

    def send(self, data: bytes) -> None:
        self._socket.sendall(data)

    def answer(self) -> Answer:
        head = self._read_until(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
        body = self._read_exactly(int(headers.get("content-length", "0")))
        return Answer(int(status_line.split()[1]), headers, body)

    def closed_by_server(self, within: float = PROMPT_SECONDS) -> bool:
        self._socket.settimeout(within)
        try:
            return not self._buffer and self._socket.recv(1) == b""
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            self._receive()
        found, _, self._buffer = self._buffer.partition(marker)
        return found

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._receive()
        found, self._buffer = self._buffer[:size], self._buffer[size:]
        return found

    def _receive(self) -> None:
        data = self._socket.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection before a complete answer")
        self._buffer += data


def request_head(method: str, target: str, *headers: str, content_length: int | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *headers]
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def exchange(running: RunningHost, data: bytes) -> Answer:
    with Wire(running) as wire:
        wire.send(data)
        return wire.answer()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def assert_refused(wire: Wire, answer: Answer, status: int) -> None:
    """The host's refusal: its status, an empty body, and the connection closed after it."""
    assert (answer.status, answer.body) == (status, b"")
    assert answer.headers.get("connection", "").lower() == "close"
    assert wire.closed_by_server()


# --- paths ------------------------------------------------------------------------------------------


def test_an_encoded_slash_is_part_of_one_segment_and_reaches_the_function_undecoded(host: RunningHost) -> None:
    assert exchange(host, request_head("GET", "/api/segment/tolkien%2Fbooks")).json() == {"value": "tolkien%2Fbooks"}
    assert exchange(host, request_head("GET", "/api/rest/a%2fb/c")).json() == {"path": "a%2fb/c"}


def test_an_encoded_slash_does_not_reach_a_route_with_one_more_segment(host: RunningHost) -> None:
    assert exchange(host, request_head("GET", "/api/shelves/tolkien/books")).json() == {"listed": "tolkien"}
    answer = exchange(host, request_head("GET", "/api/shelves/tolkien%2Fbooks"))
    assert (answer.status, answer.body) == (404, b"")


def test_other_escapes_are_decoded_before_routing(host: RunningHost) -> None:
    assert exchange(host, request_head("GET", "/api/segment/caf%C3%A9%20au%20lait")).json() == {"value": "café au lait"}
    assert exchange(host, request_head("GET", "/api/segment/%FF%2525")).json() == {"value": "%FF%25"}
    assert exchange(host, request_head("GET", "/api/rest/a/%2E%2E/b")).json() == {"path": "b"}  # decoded, then ..


def test_a_decoded_newline_is_routed_like_any_character(host: RunningHost) -> None:
    assert exchange(host, request_head("GET", "/api/rest/a%0Ab")).json() == {"path": "a\nb"}
    assert exchange(host, request_head("GET", "/api/segment/a%0A")).json() == {"value": "a\n"}


def test_a_path_no_route_matches_gets_the_hosts_empty_404_even_with_a_newline(host: RunningHost) -> None:
    for target in ("/api/nothing%0A", "/api/segment%0A", "/nothing/at/all"):
        answer = exchange(host, request_head("GET", target))
        assert (answer.status, answer.body, "content-type" in answer.headers) == (404, b"", False)


def test_a_null_character_in_the_path_is_refused_with_400(host: RunningHost) -> None:
    with Wire(host) as wire:
        wire.send(request_head("GET", "/api/segment/a%00b"))
        assert_refused(wire, wire.answer(), 400)


# --- the request body -------------------------------------------------------------------------------


def test_a_content_length_over_100_mb_fails_the_invocation_before_any_body_is_sent(host: RunningHost) -> None:
    with Wire(host) as wire:
        started = time.monotonic()
        wire.send(request_head("POST", "/api/body", content_length=HUNDRED_MB + 1))
        answer = wire.answer()
        assert time.monotonic() - started < PROMPT_SECONDS
        assert_refused(wire, answer, 500)
    failure = host.wait_for_log(lambda r: "of 'Functions.body'" in r["message"])
    assert failure["level"] == "ERROR"
    assert f"The max request body size is {HUNDRED_MB} bytes" in failure["message"]


def test_a_body_of_exactly_the_limit_is_read(small_host: RunningHost) -> None:
    payload = b"x" * SMALL_BODY_LIMIT
    answer = exchange(small_host, request_head("POST", "/api/body", content_length=len(payload)) + payload)
    assert answer.json()["size"] == SMALL_BODY_LIMIT


def test_the_body_size_limit_setting_applies_to_a_declared_length(small_host: RunningHost) -> None:
    with Wire(small_host) as wire:
        wire.send(request_head("POST", "/api/body", content_length=SMALL_BODY_LIMIT + 1))
        assert_refused(wire, wire.answer(), 500)


def test_a_chunked_body_fails_when_it_passes_the_limit_mid_stream(small_host: RunningHost) -> None:
    half = b"y" * (SMALL_BODY_LIMIT // 2 + 1)
    with Wire(small_host) as wire:
        wire.send(request_head("POST", "/api/body", "Transfer-Encoding: chunked") + chunk(half))
        wire.send(chunk(half))  # now one byte over; the terminating chunk never comes
        assert_refused(wire, wire.answer(), 500)
    within = exchange(
        small_host, request_head("POST", "/api/body", "Transfer-Encoding: chunked") + chunk(half) + chunk(b"")
    )
    assert within.json()["size"] == len(half)


def test_a_body_that_never_arrives_fails_when_the_grace_period_ends(host: RunningHost) -> None:
    with Wire(host) as wire:
        started = time.monotonic()
        wire.send(request_head("POST", "/api/body", content_length=10))
        answer = wire.answer()
        assert float(SHORT_SECONDS) <= time.monotonic() - started < LATE_SECONDS
        assert_refused(wire, answer, 500)
    assert host.wait_for_log(lambda r: "MinRequestBodyDataRate" in r["message"])["level"] == "ERROR"


def test_a_body_trickling_below_the_minimum_rate_fails(host: RunningHost) -> None:
    with Wire(host) as wire:
        wire.send(request_head("POST", "/api/body", content_length=100))
        for _ in range(4):  # 5 bytes/s, far below 240, until just before the grace period ends
            wire.send(b"z")
            time.sleep(0.2)
        assert_refused(wire, wire.answer(), 500)


def test_a_body_above_the_minimum_rate_is_read_however_long_it_takes(host: RunningHost) -> None:
    part = b"w" * 400  # 400 bytes every 0.5 s: 800 bytes/s
    with Wire(host) as wire:
        wire.send(request_head("POST", "/api/body", content_length=len(part) * 4))
        for _ in range(4):
            wire.send(part)
            time.sleep(0.5)
        assert wire.answer().json()["size"] == len(part) * 4


def test_100_continue_is_sent_only_when_the_body_is_read(host: RunningHost) -> None:
    with Wire(host) as wire:
        wire.send(request_head("POST", "/api/body", "Expect: 100-continue", content_length=3))
        assert wire.answer().status == 100
        wire.send(b"abc")
        assert wire.answer().json()["size"] == 3
    with Wire(host) as wire:
        wire.send(request_head("POST", "/api/secured", "Expect: 100-continue", content_length=3))
        assert wire.answer().status == 401  # no key: refused without asking for the body


# --- the response limit -----------------------------------------------------------------------------


def test_a_function_past_the_response_limit_gets_502_and_keeps_running(host: RunningHost) -> None:
    with Wire(host) as wire:
        started = time.monotonic()
        wire.send(request_head("GET", "/api/slow?seconds=2&tag=kept-running"))
        answer = wire.answer()
        assert time.monotonic() - started >= float(SHORT_SECONDS)
        assert_refused(wire, answer, 502)
    done = host.files / "done.txt"
    # The function's own side effect, a second after the 502: it was not cancelled.
    assert wait_for(lambda: (done.exists() and done.read_text() == "kept-running") or None, timeout=LATE_SECONDS)


def test_a_function_within_the_response_limit_answers_normally(host: RunningHost) -> None:
    answer = exchange(host, request_head("GET", "/api/slow?seconds=0.1&tag=quick"))
    assert (answer.status, answer.body) == (200, b"finished")


# --- the request head -------------------------------------------------------------------------------


def padded_target(request_line_bytes: int) -> str:
    """A target that makes `GET <target> HTTP/1.1\\r\\n` exactly this long."""
    prefix = "/api/rest/"
    return prefix + "a" * (request_line_bytes - len("GET  HTTP/1.1\r\n") - len(prefix))


def test_a_request_line_of_8_kb_is_served_and_one_byte_more_gets_414(host: RunningHost) -> None:
    assert exchange(host, request_head("GET", padded_target(8192))).status == 200
    for request_line_bytes in (8193, 20_000):  # the second is over aiohttp's own URL limit too
        with Wire(host) as wire:
            wire.send(request_head("GET", padded_target(request_line_bytes)))
            assert_refused(wire, wire.answer(), 414)


def headers_totalling(total_bytes: int) -> list[str]:
    """Header lines (with Host) whose `Name: value\\r\\n` lines add up to exactly `total_bytes`."""
    host_line = len("Host: 127.0.0.1\r\n")
    filler = total_bytes - host_line - len("X-Fill: \r\n")
    return [f"X-Fill: {'f' * filler}"]


def test_headers_of_32_kb_are_served_and_one_byte_more_gets_431(host: RunningHost) -> None:
    assert exchange(host, request_head("GET", "/api/segment/a", *headers_totalling(32768))).status == 200
    for total_bytes in (32769, 40_000):  # the second is over aiohttp's own field limit too
        with Wire(host) as wire:
            wire.send(request_head("GET", "/api/segment/a", *headers_totalling(total_bytes)))
            assert_refused(wire, wire.answer(), 431)


def test_an_oversized_head_for_an_admin_route_is_refused_like_any_other(host: RunningHost) -> None:
    with Wire(host) as wire:  # Kestrel refuses it before the host's routing sees it
        wire.send(request_head("GET", "/admin/host/status", *headers_totalling(32769)))
        assert_refused(wire, wire.answer(), 431)


def test_100_headers_are_served_and_101_get_431(host: RunningHost) -> None:
    def headers(count: int) -> list[str]:
        return [f"X-H{index}: v" for index in range(count - 1)]  # plus Host

    assert exchange(host, request_head("GET", "/api/segment/a", *headers(100))).status == 200
    with Wire(host) as wire:
        wire.send(request_head("GET", "/api/segment/a", *headers(101)))
        assert_refused(wire, wire.answer(), 431)


def test_a_malformed_request_gets_an_empty_400(host: RunningHost) -> None:
    for head in (b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n"):  # the second has no Host
        with Wire(host) as wire:
            wire.send(head)
            assert_refused(wire, wire.answer(), 400)


def test_a_head_that_stops_midway_gets_408_when_the_headers_timeout_ends(host: RunningHost) -> None:
    with Wire(host) as wire:
        started = time.monotonic()
        wire.send(b"POST /api/body HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        answer = wire.answer()
        assert float(SHORT_SECONDS) <= time.monotonic() - started < LATE_SECONDS
        assert_refused(wire, answer, 408)


def test_a_kept_alive_connection_serves_the_next_request_after_an_answer(host: RunningHost) -> None:
    with Wire(host) as wire:
        for value in ("first", "second"):
            wire.send(request_head("GET", f"/api/segment/{value}"))
            assert wire.answer().json() == {"value": value}
        assert not wire.closed_by_server(within=float(SHORT_SECONDS) + 0.5)  # no headers timeout between requests


# --- settings ---------------------------------------------------------------------------------------


def test_a_bad_limit_setting_stops_the_start(app_dir: Path, tmp_path: Path) -> None:
    env = host_environment(tmp_path, DEVSTACK_HTTP_RESPONSE_LIMIT_SECONDS="soon")
    process = launch(app_dir, tmp_path, env=env)
    returncode = process.wait(EXIT_TIMEOUT_SECONDS)
    stop(process)
    assert returncode == 2
    assert (
        "DEVSTACK_HTTP_RESPONSE_LIMIT_SECONDS must be a positive number of seconds"
        in (tmp_path / "stderr.log").read_text()
    )


def test_the_defaults_are_the_hosts() -> None:
    limits = HostLimits.from_environ({})
    assert (limits.max_request_body_bytes, limits.response_limit_seconds) == (HUNDRED_MB, 230.0)
    assert (limits.min_request_body_bytes_per_second, limits.request_body_grace_seconds) == (240.0, 5.0)
    assert (limits.request_headers_timeout_seconds, limits.keep_alive_timeout_seconds) == (30.0, 130.0)
    assert (limits.max_request_line_bytes, limits.max_request_headers_total_bytes) == (8192, 32768)
    assert limits.max_request_header_count == 100


def test_devstack_limit_settings_are_taken_out_of_the_apps_environment() -> None:
    environ = {**SHORT_TIMEOUTS, "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT": "2048", "OTHER": "kept"}
    limits = HostLimits.from_environ(environ)
    assert (limits.response_limit_seconds, limits.request_body_grace_seconds, limits.max_request_body_bytes) == (
        1.0,
        1.0,
        2048,
    )
    assert environ == {"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT": "2048", "OTHER": "kept"}  # an app setting in Azure


@pytest.mark.parametrize(
    ("value", "limit"),
    [(" +2048 ", 2048), ("0", 0), ("1_000", HUNDRED_MB), ("٣", HUNDRED_MB), ("-1", HUNDRED_MB), ("9" * 20, HUNDRED_MB)],
)
def test_the_body_size_setting_is_read_like_the_host_reads_it(value: str, limit: int) -> None:
    assert HostLimits.from_environ({"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT": value}).max_request_body_bytes == limit


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan"])
def test_a_devstack_timeout_must_be_a_positive_number_of_seconds(value: str) -> None:
    with pytest.raises(LimitSettingError, match="DEVSTACK_REQUEST_BODY_GRACE_SECONDS"):
        HostLimits.from_environ({"DEVSTACK_REQUEST_BODY_GRACE_SECONDS": value})


# --- path decoding, in-process ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("/api/shelves/tolkien%2Fbooks?x=%2F", "/api/shelves/tolkien%2Fbooks"),  # %2F stays, any case
        ("/a/b%2fc", "/a/b%2fc"),
        ("/a/caf%c3%a9", "/a/café"),
        ("/a/%F0%9F%98%80", "/a/😀"),
        ("/a/%0A%20", "/a/\n "),
        ("/a/%2525", "/a/%25"),  # decoded once only
        ("/a/%FF", "/a/%FF"),  # not UTF-8: kept as it was
        ("/a/%C3%28", "/a/%C3("),  # a broken sequence is kept, what follows it is decoded
        ("/a/%C0%80", "/a/%C0%80"),  # overlong
        ("/a/%ED%A0%80", "/a/%ED%A0%80"),  # a UTF-16 surrogate
        ("/a/%F4%90%80%80", "/a/%F4%90%80%80"),  # beyond U+10FFFF
        ("/a/%ZZ/%4/%", "/a/%ZZ/%4/%"),
        ("/a/b/../c/./d/.", "/a/c/d/"),
        ("/a/%2E%2E/%2e", "/"),  # dot segments are removed after decoding
        ("/..", "/"),
        ("/a//b", "/a//b"),
    ],
)
def test_paths_are_decoded_as_kestrel_decodes_them(target: str, path: str) -> None:
    assert decoded_path(target) == path


@pytest.mark.parametrize("target", ["/a%00b", "/a/é"])
def test_targets_kestrel_rejects_are_rejected(target: str) -> None:
    with pytest.raises(InvalidRequestTargetError):
        decoded_path(target)
