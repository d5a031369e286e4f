"""Logging like the Python worker's: every record goes to stderr as one JSON object per line.

Each line has `time`, `level`, `logger`, `message`, `invocationId` and `functionName` (both null
outside an invocation), any `extra={...}` fields the caller passed, and `exception` with the
formatted traceback when there is one. The invocation fields come from `current_invocation`, so app
code that only calls `logging.getLogger(__name__).info(...)` is correlated without doing anything.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from devstack.funchost.context import THREAD_LOCAL_STORAGE, current_invocation

_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_OWN_FIELDS = ("time", "level", "logger", "message", "invocationId", "functionName")


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _utc_iso(record.created),
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


def configure_logging(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Route the root logger (and so every library and the app) to JSON lines on stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)


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


def _utc_iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
