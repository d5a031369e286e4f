"""The host's log: one JSON object per line on stderr, for the host's own records and the worker's.

Each line has `time`, `level`, `logger`, `message`, `invocationId` and `functionName` (both null
outside an invocation). The host's own records (the `devstack.funchost` and `aiohttp` loggers) also
carry their `extra={...}` fields, and `exception` with the formatted traceback when there is one.

Everything else is the worker's. With the in-process invoker (Python 3.11/3.12) those records are
written the same way, extras included, tagged from `current_invocation` so app code that only calls
`logging.getLogger(__name__).info(...)` is correlated without doing anything. With azure-functions-
runtime as the worker, `route_worker_records` sends them through the RpcLog route instead
(runtime_logs): a line then holds only what reaches the host in Azure, and some records none.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from devstack.funchost.context import THREAD_LOCAL_STORAGE, current_invocation

LogDocument = dict[str, Any]
WorkerRoute = Callable[[logging.LogRecord], LogDocument | None]

HOST_LOGGERS = ("devstack.funchost", "aiohttp")
_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_OWN_FIELDS = ("time", "level", "logger", "message", "invocationId", "functionName")

_worker_route: WorkerRoute | None = None


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: LogDocument = {
            "time": utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_invocation_fields(),
        }
        document.update(_extra_fields(record))
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, default=str)


class HostLogHandler(logging.StreamHandler[TextIO]):
    """Host records as they are; worker records through the worker route when one is set."""

    def emit(self, record: logging.LogRecord) -> None:
        route = _worker_route
        if route is None or is_host_record(record):
            super().emit(record)
            return
        try:
            document = route(record)
            if document is not None:
                self.stream.write(json.dumps(document, default=str) + self.terminator)
                self.flush()
        except Exception:
            self.handleError(record)


def configure_logging(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Route the root logger (and so every library and the app) to JSON lines on stderr."""
    handler = HostLogHandler(stream or sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)


def route_worker_records(route: WorkerRoute | None) -> None:
    """From now on, worker records become whatever `route` makes of them (None: written as host records)."""
    global _worker_route  # noqa: PLW0603  # one worker per process, like the handler it serves
    _worker_route = route


def is_host_record(record: logging.LogRecord) -> bool:
    return any(record.name == name or record.name.startswith(name + ".") for name in HOST_LOGGERS)


def utc_iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _invocation_fields() -> dict[str, str | None]:
    invocation = current_invocation.get()
    if invocation is not None:
        return {"invocationId": invocation.id, "functionName": invocation.function_name}
    # Threads started by app code only have what the app copied into thread_local_storage.
    return {"invocationId": getattr(THREAD_LOCAL_STORAGE, "invocation_id", None), "functionName": None}


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD_ATTRIBUTES and key not in _OWN_FIELDS and not key.startswith("_")
    }
