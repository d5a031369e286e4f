"""Worker log records as RpcLog messages, and what the host writes for each one.

Worker side (the 3.13+ proxy worker's AsyncLoggingHandler): every record that reaches the root
logger becomes an RpcLog with the record formatted by logging's default Formatter (so a traceback is
part of the message, and `extra={...}` fields are gone), a level (below DEBUG is RpcLog's None), the
logger name as category, System category for the `azure_functions_worker*` and `azure.functions*`
loggers, and the current invocation id.

Host side (GrpcWorkerChannel): a System log goes to the host's own logs, which neither the local
console nor Application Insights show; a user log is written only while its invocation is executing,
under that invocation (a log without one, from import time or after the invocation answered, is
dropped). What remains becomes a devstack JSON line with `time` (when the host got it: RpcLog has no
time of its own), `level`, `logger`, `message`, `invocationId` and `functionName`.

The invocation id comes from the invocation's task context (async functions, and tasks they start),
then the runtime's `invocation_id_cv` (set in the pool thread that runs a sync function), then the
runtime's thread-local `context.thread_local_storage.invocation_id` (for threads the app starts). The
proxy worker looks first at a process-wide "latest invocation" instead, which attributes a log to
whichever invocation started last when several run at once; that race is not reproduced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from devstack.funchost.context import current_invocation
from devstack.funchost.logs import LogDocument, utc_iso

SYSTEM_PREFIXES = ("azure_functions_worker", "azure.functions")
# RpcLog.Level names -> the level names devstack lines use (Python's).
_LEVEL_NAMES = {
    "Trace": "DEBUG",
    "Debug": "DEBUG",
    "Information": "INFO",
    "Warning": "WARNING",
    "Error": "ERROR",
    "Critical": "CRITICAL",
}
_FORMATTER = logging.Formatter()  # what a handler without a formatter uses, as the proxy worker's does


class WorkerLogRoute:
    """record -> RpcLog (worker) -> JSON line or nothing (host)."""

    def __init__(self, protos: Any, executing: Mapping[str, str]) -> None:
        # Imported here: the runtime exists on Python 3.13+ only, and this route only runs there.
        from azure_functions_runtime import invocation_id_cv  # noqa: PLC0415
        from azure_functions_runtime.bindings import context  # noqa: PLC0415

        self._protos = protos
        self._executing = executing
        self._level_names = {protos.RpcLog.Level.Value(name): line for name, line in _LEVEL_NAMES.items()}
        self._pool_invocation = invocation_id_cv
        # The object every Context.thread_local_storage returns; private in the runtime, hence getattr.
        self._app_threads = getattr(context, "_invocation_id_local", None)

    def __call__(self, record: logging.LogRecord) -> LogDocument | None:
        return self.host_line(self.rpc_log(record))

    def rpc_log(self, record: logging.LogRecord) -> Any:
        rpc_log = self._protos.RpcLog
        fields: dict[str, Any] = {
            "level": rpc_log.Level.Value(_rpc_level(record.levelno)),
            "message": _FORMATTER.format(record),
            "category": record.name,
            "log_category": rpc_log.RpcLogCategory.Value("System" if _is_system(record.name) else "User"),
        }
        invocation_id = self.current_invocation_id()
        if invocation_id is not None:
            fields["invocation_id"] = invocation_id
        return rpc_log(**fields)

    def host_line(self, rpc_log: Any) -> LogDocument | None:
        if rpc_log.log_category != self._protos.RpcLog.RpcLogCategory.Value("User"):
            return None
        function_name = self._executing.get(rpc_log.invocation_id)
        level = self._level_names.get(rpc_log.level)
        if function_name is None or level is None:
            return None
        return {
            "time": utc_iso(time.time()),
            "level": level,
            "logger": rpc_log.category,
            "message": rpc_log.message,
            "invocationId": rpc_log.invocation_id,
            "functionName": function_name,
        }

    def current_invocation_id(self) -> str | None:
        invocation = current_invocation.get()
        if invocation is not None:
            return invocation.id
        found = self._pool_invocation.get() or getattr(self._app_threads, "invocation_id", None)
        return None if found is None else str(found)


def _rpc_level(levelno: int) -> str:
    for threshold, name in (
        (logging.CRITICAL, "Critical"),
        (logging.ERROR, "Error"),
        (logging.WARNING, "Warning"),
        (logging.INFO, "Information"),
        (logging.DEBUG, "Debug"),
    ):
        if levelno >= threshold:
            return name
    return "None"


def _is_system(category: str) -> bool:
    return category.startswith(SYSTEM_PREFIXES)
