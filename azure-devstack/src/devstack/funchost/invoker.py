"""Calling functions the way the host does, with one log line per invocation.

Two workers stand behind the same `Invoker`, chosen at indexing and named in the log at start-up:

- azure-functions-runtime (Python 3.13+, whenever it is installed): the function was loaded in the
  runtime, which runs it (async functions on the server's event loop, sync ones in the runtime's
  thread pool) and converts its trigger data and return value itself (runtime_invoker).
- the in-process invoker (Python 3.11/3.12): `async def` functions are awaited on the server's event
  loop; plain functions run in a thread pool (sized by the PYTHON_THREADPOOL_THREAD_COUNT app
  setting, as in the worker, else Python's default), with the invocation's contextvars copied into the
  thread. A `context` parameter gets an InvocationContext.

Either way an exception, or a return value the trigger cannot use, fails the invocation: the caller
gets `Outcome.failed` and the traceback is logged, never sent to the HTTP client. Trigger values are
what the host sends (HttpTriggerData, TimerInfo); `finish` receives an HTTP function's HttpResult, or
None for a timer.
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

from devstack.funchost import runtime_worker
from devstack.funchost.context import (
    THREAD_LOCAL_STORAGE,
    Invocation,
    InvocationContext,
    TraceContext,
    current_invocation,
    trace_parent_for,
)
from devstack.funchost.http_binding import HttpTriggerData, python_request, result_of
from devstack.funchost.indexing import CONTEXT_PARAMETER, AppFunction, HttpTrigger, LoadedInWorker, PythonCallable
from devstack.funchost.runtime_invoker import RuntimeCalls, WorkerInvocationError
from devstack.funchost.timers import TimerInfo

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
        self._local = LocalCalls(environ)
        worker = runtime_worker.started()
        self._runtime = None if worker is None else RuntimeCalls(worker)
        if worker is not None:
            log.info("Invoker: azure-functions-runtime %s's request handlers (the worker's own code)", worker.version)
        else:
            log.info("Invoker: the devstack in-process invoker (%s)", runtime_worker.unavailable_reason())

    def close(self) -> None:
        self._local.close()
        if self._runtime is not None:
            self._runtime.close()

    async def invoke(
        self,
        function: AppFunction,
        trigger_value: object,
        finish: Callable[[Any], R],
        *,
        trace_parent: str | None = None,
    ) -> Outcome[R]:
        """Run `function` and pass its result through `finish`, all within one invocation."""
        invocation = Invocation(function.name)
        token = current_invocation.set(invocation)
        started = time.perf_counter()
        try:
            value = finish(await self._calls(function).call(function, trigger_value, invocation, trace_parent))
        except Exception as failure:
            _log_executed(invocation, started, failure)
            return Outcome(invocation.id, None, failed=True)
        else:
            _log_executed(invocation, started, None)
            return Outcome(invocation.id, value, failed=False)
        finally:
            current_invocation.reset(token)
            with contextlib.suppress(OSError, ValueError):  # a parent that stopped reading is not our failure
                sys.stdout.flush()  # the worker flushes app print() output after every invocation

    def _calls(self, function: AppFunction) -> LocalCalls | RuntimeCalls:
        if not isinstance(function.implementation, LoadedInWorker):
            return self._local
        if self._runtime is None:
            raise RuntimeError("a function loaded in azure-functions-runtime, but no worker was started")
        return self._runtime


class LocalCalls:
    """The in-process invoker: the worker's calling conventions, without the worker."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=_thread_count(environ), thread_name_prefix="function")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def call(
        self,
        function: AppFunction,
        trigger_value: object,
        invocation: Invocation,
        trace_parent: str | None,
    ) -> Any:
        target = function.implementation
        if not isinstance(target, PythonCallable):
            raise TypeError(f"function {function.name!r} is loaded in a worker, not callable in-process")
        arguments: dict[str, object] = {function.trigger.parameter: _python_argument(trigger_value)}
        if target.wants_context:
            trace = TraceContext(trace_parent_for(trace_parent))
            arguments[CONTEXT_PARAMETER] = InvocationContext(invocation.id, function.name, function.directory, trace)
        if target.is_async:
            value = await target.callable(**arguments)
        else:
            run = contextvars.copy_context().run
            loop = asyncio.get_running_loop()
            value = await loop.run_in_executor(self._pool, run, _run_sync, invocation, target.callable, arguments)
        return result_of(value) if isinstance(function.trigger, HttpTrigger) else value


def _python_argument(trigger_value: object) -> object:
    if isinstance(trigger_value, HttpTriggerData):
        return python_request(trigger_value)
    if isinstance(trigger_value, TimerInfo):
        return trigger_value.python_argument()
    raise TypeError(f"no trigger sends {type(trigger_value).__name__}")


def _run_sync(invocation: Invocation, target: Callable[..., Any], arguments: dict[str, object]) -> Any:
    # The worker stamps the pool thread too, for app code that reads thread_local_storage.
    THREAD_LOCAL_STORAGE.invocation_id = invocation.id
    try:
        return target(**arguments)
    finally:
        THREAD_LOCAL_STORAGE.invocation_id = None


def _log_executed(invocation: Invocation, started: float, failure: Exception | None) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    status = "Failed" if failure else "Succeeded"
    extra: dict[str, object] = {"status": status, "durationMs": duration_ms}
    exc_info: Exception | None = failure
    if isinstance(failure, WorkerInvocationError):
        # The traceback is the worker's, from the InvocationResponse; the host has none of its own.
        extra["exception"], exc_info = failure.host_text(), None
    log.log(
        logging.ERROR if failure else logging.INFO,
        "Executed 'Functions.%s' (%s, Id=%s, Duration=%sms)",
        invocation.function_name,
        status,
        invocation.id,
        duration_ms,
        exc_info=exc_info,
        extra=extra,
    )


def _thread_count(environ: Mapping[str, str]) -> int | None:
    value = environ.get(THREAD_COUNT_SETTING, "")
    if value.isdigit() and int(value) >= 1:
        return int(value)
    if value:
        log.warning("%s must be an integer >= 1; using the default thread pool size", THREAD_COUNT_SETTING)
    return None
