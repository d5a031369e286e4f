"""Invocations through azure-functions-runtime: InvocationRequest in, InvocationResponse read as the host does.

The host's part of one call: an InvocationRequest naming the function by the worker's id, with the
trigger's TypedData bound to the trigger parameter (RpcHttp for HTTP, the TimerInfo JSON for timers)
and the W3C trace context (the caller's trace continued, a new span). The invocation counts as
executing until the response arrives, which is when the host stops accepting its logs. A failed
StatusResult is an invocation failure that carries the worker's exception (`WorkerInvocationError`);
an HTTP function's return value becomes the HttpResult the host writes (runtime_http).
"""

from __future__ import annotations

from typing import Any

from devstack.funchost import runtime_http
from devstack.funchost.context import Invocation, trace_parent_for
from devstack.funchost.http_binding import HttpResult, HttpTriggerData
from devstack.funchost.indexing import AppFunction, HttpTrigger, LoadedInWorker
from devstack.funchost.runtime_worker import RuntimeWorker
from devstack.funchost.timers import TimerInfo


class WorkerInvocationError(RuntimeError):
    """The worker's InvocationResponse said Failure."""

    def __init__(self, message: str, stack_trace: str) -> None:
        super().__init__(message)
        self.message = message
        self.stack_trace = stack_trace

    def host_text(self) -> str:
        # How the host's Workers.Rpc.RpcException describes a worker failure.
        return f"Result: Failure\nException: {self.message}\nStack: {self.stack_trace}"


class RuntimeCalls:
    def __init__(self, worker: RuntimeWorker) -> None:
        self._worker = worker
        self._protos = worker.protos

    async def call(
        self,
        function: AppFunction,
        trigger_value: object,
        invocation: Invocation,
        trace_parent: str | None,
    ) -> HttpResult | None:
        if not isinstance(function.implementation, LoadedInWorker):
            raise TypeError(f"function {function.name!r} is not loaded in the worker")
        protos = self._protos
        request = protos.InvocationRequest(
            invocation_id=invocation.id,
            function_id=function.implementation.function_id,
            input_data=[protos.ParameterBinding(name=function.trigger.parameter, data=self._data(trigger_value))],
            trace_context=protos.RpcTraceContext(trace_parent=trace_parent_for(trace_parent)),
        )
        self._worker.executing[invocation.id] = function.name
        try:
            response = await self._worker.invoke(request)
        finally:
            self._worker.executing.pop(invocation.id, None)
        result = response.result
        if result.status != protos.StatusResult.Success:
            raise WorkerInvocationError(result.exception.message, result.exception.stack_trace)
        if isinstance(function.trigger, HttpTrigger):
            return runtime_http.http_result(response.return_value if response.HasField("return_value") else None)
        return None  # the worker itself fails a timer that returns a value

    def close(self) -> None:
        self._worker.close()

    def _data(self, trigger_value: object) -> Any:
        if isinstance(trigger_value, HttpTriggerData):
            return runtime_http.typed_data(self._protos, trigger_value)
        if isinstance(trigger_value, TimerInfo):
            return self._protos.TypedData(json=trigger_value.to_json())
        raise TypeError(f"no trigger sends {type(trigger_value).__name__}")
