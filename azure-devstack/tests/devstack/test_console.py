"""`devstack up` on a terminal: readable lines from the host's JSON log, as `func start` shows them."""

from __future__ import annotations

import io
import json

from devstack.console import ReadableHostLog

EXECUTED = {
    "time": "2026-12-01T10:53:17.123Z",
    "level": "INFO",
    "logger": "devstack.funchost",
    "message": "Executed 'Functions.keep_note' (Succeeded, Id=abc, Duration=5.4ms)",
    "invocationId": "abc",
    "functionName": "keep_note",
    "status": "Succeeded",
    "durationMs": 5.4,
}


def shown(*records: object, colour: bool = False) -> str:
    out = io.StringIO()
    console = ReadableHostLog(out, colour=colour)
    console.write("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return out.getvalue()


def test_an_invocation_is_one_line_with_function_status_and_duration() -> None:
    assert shown(EXECUTED) == "10:53:17 keep_note: Succeeded in 5.4 ms\n"


def test_app_log_lines_show_level_and_message_and_a_failure_its_traceback() -> None:
    warning = {**EXECUTED, "logger": "notes.invocation", "level": "WARNING", "message": "answered 503"}
    del warning["durationMs"]
    error = {**warning, "level": "ERROR", "message": "boom", "exception": "Traceback ...\nKeyError: 'x'"}
    assert (
        shown(warning, error) == "10:53:17 WARNING answered 503\n10:53:17 ERROR   boom\nTraceback ...\nKeyError: 'x'\n"
    )


def test_machine_lines_and_host_bookkeeping_stay_in_the_log_file() -> None:
    ready = {"event": "ready", "port": 7071, "functions": ["health"]}
    executing = {**EXECUTED, "message": "Executing 'Functions.health'"}
    del executing["durationMs"]
    assert shown(ready, executing) == ""


def test_lines_that_are_not_json_are_shown_as_they_are() -> None:
    assert shown("Traceback (most recent call last):") == "Traceback (most recent call last):\n"


def test_colour_only_when_asked_and_failures_in_red() -> None:
    failed = {**EXECUTED, "status": "Failed"}
    assert "\033[" not in shown(failed)
    assert "\033[31mFailed\033[0m" in shown(failed, colour=True)
