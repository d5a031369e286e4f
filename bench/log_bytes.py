"""How many log bytes a delivery costs, two ways.

- `HostLogMeter`: growth of the function host's log file (`functions.log` in the stack's log dir),
  which holds every record the app and the host emit, one JSON line each.
- `WorkerLogging`: for calls made in this process, what the Azure Python worker would forward. The
  worker sets the root logger to INFO and sends every record at or above it to the host (and from
  there to Application Insights, billed per byte), unless host.json filters harder. While metering,
  the root logger is set to that level and a handler formats each record as the local host does and
  counts the bytes. The formatting is a cost the worker pays too, so it stays inside the timings.

Both are meters with `start()` and `stop() -> bytes since start`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from devstack.funchost.logs import JsonLineFormatter

HOST_LOG_FILE = "functions.log"
# host.json `logging.logLevel` names (the .NET LogLevel enum) as Python levels.
HOST_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "information": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 10,
}
WORKER_ROOT_LEVEL = logging.INFO
SETTLE_SECONDS = 0.15  # the stack copies the host's output to the file line by line, a little behind
SETTLE_LIMIT_SECONDS = 3.0


class LogMeter(Protocol):
    def start(self) -> None: ...

    def stop(self) -> int: ...


def forwarded_level(host_json: Mapping[str, Any]) -> int:
    """The lowest level that reaches the host: the worker's INFO, or host.json's level if higher.

    App records arrive under the category `Function.<name>.User`, so `logLevel.Function` applies
    when set, else `logLevel.default`.
    """
    logging_config = host_json.get("logging")
    levels = logging_config.get("logLevel") if isinstance(logging_config, Mapping) else None
    if not isinstance(levels, Mapping):
        return WORKER_ROOT_LEVEL
    configured = levels.get("Function", levels.get("default"))
    if not isinstance(configured, str):
        return WORKER_ROOT_LEVEL
    return max(WORKER_ROOT_LEVEL, HOST_LEVELS.get(configured.lower(), WORKER_ROOT_LEVEL))


def read_host_json(app_dir: Path) -> Mapping[str, Any]:
    document = json.loads((app_dir / "host.json").read_text(encoding="utf-8-sig"))
    return document if isinstance(document, dict) else {}


class _CountingHandler(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.setFormatter(JsonLineFormatter())
        self.bytes = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.bytes += len(self.format(record).encode()) + 1  # one line each


class WorkerLogging:
    def __init__(self, level: int) -> None:
        self._level = level
        self._handler: _CountingHandler | None = None
        self._previous_level = logging.NOTSET

    def start(self) -> None:
        root = logging.getLogger()
        self._previous_level = root.level
        self._handler = _CountingHandler(self._level)
        root.addHandler(self._handler)
        root.setLevel(self._level)

    def stop(self) -> int:
        assert self._handler is not None, "stop() without start()"
        root = logging.getLogger()
        root.removeHandler(self._handler)
        root.setLevel(self._previous_level)
        counted, self._handler = self._handler.bytes, None
        return counted


class HostLogMeter:
    def __init__(self, log_dir: Path) -> None:
        self._path = log_dir / HOST_LOG_FILE
        self._start = 0

    def start(self) -> None:
        # Only invocations write to this log, and the previous block's stop() waited for them.
        self._start = self._path.stat().st_size

    def stop(self) -> int:
        return self._settled_size() - self._start

    def _settled_size(self) -> int:
        """The file's size once it has stopped growing for a moment (bounded wait)."""
        deadline = time.monotonic() + SETTLE_LIMIT_SECONDS
        size = self._path.stat().st_size
        while time.monotonic() < deadline:
            time.sleep(SETTLE_SECONDS)
            now = self._path.stat().st_size
            if now == size:
                break
            size = now
        return size
