"""Calling user functions the way the worker does, with one log line per invocation.

`async def` functions are awaited on the server's event loop; plain functions run in a thread pool
(sized by the PYTHON_THREADPOOL_THREAD_COUNT app setting, as in the worker, else Python's default),
with the invocation's contextvars copied into the thread. A `context` parameter gets an
InvocationContext. An exception, or a return value the trigger cannot use, fails the invocation:
the caller gets `Outcome.failed` and the traceback is logged, never sent to the HTTP client.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from devstack.funchost.context import (
    THREAD_LOCAL_STORAGE,
    Invocation,
    InvocationContext,
    TraceContext,
    current_invocation,
    trace_parent_for,
)
from devstack.funchost.indexing import CONTEXT_PARAMETER, AppFunction

THREAD_COUNT_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"

R = TypeVar("R")
log = logging.getLogger("devstack.funchost")


@dataclass(frozen=True)
class Outcome(Generic[R]):
    invocation_id: str
    value: R | None
    failed: bool


class Invoker:
    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=_thread_count(environ), thread_name_prefix="function")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def invoke(
        self,
        function: AppFunction,
        trigger_value: object,
        finish: Callable[[Any], R],
        *,
        trace_parent: str | None = None,
    ) -> Outcome[R]:
        """Run `function` and pass its return value through `finish`, all within one invocation."""
        invocation = Invocation(function.name)
        token = current_invocation.set(invocation)
        started = time.perf_counter()
        try:
            value = finish(await self._call(function, trigger_value, invocation, trace_parent))
        except Exception:
            _log_executed(invocation, started, failed=True)
            return Outcome(invocation.id, None, failed=True)
        else:
            _log_executed(invocation, started, failed=False)
            return Outcome(invocation.id, value, failed=False)
        finally:
            current_invocation.reset(token)
            with contextlib.suppress(OSError, ValueError):  # a parent that stopped reading is not our failure
                sys.stdout.flush()  # the worker flushes app print() output after every invocation

    async def _call(
        self, function: AppFunction, trigger_value: object, invocation: Invocation, trace_parent: str | None
    ) -> Any:
        arguments: dict[str, object] = {function.trigger.parameter: trigger_value}
        if function.wants_context:
            trace = TraceContext(trace_parent_for(trace_parent))
            arguments[CONTEXT_PARAMETER] = InvocationContext(invocation.id, function.name, function.directory, trace)
        if function.is_async:
            return await function.callable(**arguments)
        copied = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, copied.run, _run_sync, invocation, function.callable, arguments)


def _run_sync(invocation: Invocation, target: Callable[..., Any], arguments: dict[str, object]) -> Any:
    # The worker stamps the pool thread too, for app code that reads thread_local_storage.
    THREAD_LOCAL_STORAGE.invocation_id = invocation.id
    try:
        return target(**arguments)
    finally:
        THREAD_LOCAL_STORAGE.invocation_id = None


def _log_executed(invocation: Invocation, started: float, *, failed: bool) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    status = "Failed" if failed else "Succeeded"
    log.log(
        logging.ERROR if failed else logging.INFO,
        "Executed 'Functions.%s' (%s, Id=%s, Duration=%sms)",
        invocation.function_name,
        status,
        invocation.id,
        duration_ms,
        exc_info=failed,
        extra={"status": status, "durationMs": duration_ms},
    )


def _thread_count(environ: Mapping[str, str]) -> int | None:
    value = environ.get(THREAD_COUNT_SETTING, "")
    if value.isdigit() and int(value) >= 1:
        return int(value)
    if value:
        log.warning("%s must be an integer >= 1; using the default thread pool size", THREAD_COUNT_SETTING)
    return None
