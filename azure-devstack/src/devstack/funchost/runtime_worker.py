"""azure-functions-runtime driven in-process, the way the Python 3.13+ worker drives it over gRPC.

In Azure the 3.13+ worker (`proxy_worker`, shipped with the host) only moves FunctionRpc messages:
for each StreamingMessage from the host it calls the runtime's handler of the same name with a request
object holding the message (`.request`) and, for init, `.properties` {"protos", "host"}, and sends the
handler's response back. This module plays that part, in the same order: the runtime's thread pool
is started, then `worker_init_request` (which imports function_app and indexes it, once per process),
`functions_metadata_request`, one `function_load_request` per function, and `invocation_request` per
call. The runtime's own request handling (its binding checks, RpcHttp <-> HttpRequest conversion,
return-value encoding, exception serialisation) is therefore the code that runs in Azure.

Before anything runs, `CONTAINER_NAME` and `WEBSITE_INSTANCE_ID` are removed from the environment:
the worker reads either as "running in Azure" (FIELD-NOTES), and this machine sets CONTAINER_NAME.
Worker-side log records are switched to the RpcLog route first, as the proxy worker does before it
receives WorkerInitRequest (runtime_logs).

The start-up handlers never await anything, so they are completed here without an event loop: the
app is imported outside any loop, as the in-process invoker has always done it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.funchost import logs, runtime_logs, runtime_protos

MODULE = "azure_functions_runtime"
MINIMUM_PYTHON = (3, 13)
# Set by Azure only; the worker changes code paths when it sees them (FIELD-NOTES, "The real Python worker").
AZURE_ONLY_VARIABLES = ("CONTAINER_NAME", "WEBSITE_INSTANCE_ID")
HOST_NAME = "127.0.0.1"
# What the host advertises in every WorkerInitRequest (GrpcWorkerChannel.SendWorkerInitRequest).
HOST_CAPABILITIES = {"MultiStream": "10"}
# Set in the worker's answer when the app uses HTTP streaming (azurefunctions-extensions-http-*).
HTTP_PROXY_CAPABILITY = "HttpUri"

_started: RuntimeWorker | None = None


class WorkerRefusedError(RuntimeError):
    """The worker answered a start-up request with a failure; the message is the worker's."""


@dataclass(frozen=True)
class _WorkerRequest:
    """The object the proxy worker hands each handler (its `WorkerRequest`)."""

    name: str
    request: Any
    properties: dict[str, Any] | None = None


def available() -> bool:
    return sys.version_info >= MINIMUM_PYTHON and importlib.util.find_spec(MODULE) is not None


def unavailable_reason() -> str:
    if sys.version_info < MINIMUM_PYTHON:
        return f"azure-functions-runtime needs Python 3.13+, this is {sys.version.split()[0]}"
    return "azure-functions-runtime is not installed"


def started() -> RuntimeWorker | None:
    """The worker of this process, once `start` has indexed the app."""
    return _started


def start(app_dir: Path) -> RuntimeWorker:
    """Initialise the worker for the app in `app_dir` (the caller has made it the working directory)."""
    global _started  # noqa: PLW0603  # one worker per process, as the runtime's own state is process-wide
    if _started is not None:
        raise RuntimeError("the worker has already indexed an app in this process (it can index once)")
    if not available():
        raise WorkerRefusedError(unavailable_reason())
    import azure_functions_runtime as runtime  # noqa: PLC0415  # only importable on Python 3.13+

    protos = runtime_protos.load()
    for name in AZURE_ONLY_VARIABLES:
        os.environ.pop(name, None)
    worker = RuntimeWorker(runtime, protos)
    logs.route_worker_records(runtime_logs.WorkerLogRoute(protos, worker.executing))
    runtime.start_threadpool_executor()
    worker.load(app_dir)
    _started = worker
    return worker


class RuntimeWorker:
    def __init__(self, runtime: Any, protos: Any) -> None:
        self.runtime = runtime
        self.protos = protos
        self.version = str(runtime.version.VERSION)
        self.functions: tuple[Any, ...] = ()  # RpcFunctionMetadata, in the worker's order
        # The host's executing invocations (id -> function name): worker logs count only for these.
        self.executing: dict[str, str] = {}

    def load(self, app_dir: Path) -> None:
        protos = self.protos
        init = _complete(
            self.runtime.worker_init_request(
                _WorkerRequest(
                    "WorkerInitRequest",
                    protos.StreamingMessage(
                        worker_init_request=protos.WorkerInitRequest(
                            host_version="devstack",
                            function_app_directory=str(app_dir),
                            capabilities=HOST_CAPABILITIES,
                        )
                    ),
                    {"protos": protos, "host": HOST_NAME},
                )
            )
        )
        self._check(init.result, "the worker could not index the app")
        if HTTP_PROXY_CAPABILITY in init.capabilities:
            raise WorkerRefusedError("the app uses HTTP streaming (an http extension); the devstack host does not")
        metadata = _complete(
            self.runtime.functions_metadata_request(
                _WorkerRequest(
                    "WorkerMetadataRequest",
                    protos.StreamingMessage(
                        functions_metadata_request=protos.FunctionsMetadataRequest(function_app_directory=str(app_dir))
                    ),
                )
            )
        )
        self._check(metadata.result, "the worker could not describe the app's functions")
        self.functions = tuple(metadata.function_metadata_results)
        for function in self.functions:
            loaded = _complete(
                self.runtime.function_load_request(
                    _WorkerRequest(
                        "FunctionLoadRequest",
                        protos.StreamingMessage(
                            function_load_request=protos.FunctionLoadRequest(
                                function_id=function.function_id, metadata=function
                            )
                        ),
                    )
                )
            )
            self._check(loaded.result, f"the worker could not load function {function.name!r}")

    async def invoke(self, invocation_request: Any) -> Any:
        """One InvocationRequest in, the worker's InvocationResponse out."""
        message = self.protos.StreamingMessage(invocation_request=invocation_request)
        return await self.runtime.invocation_request(_WorkerRequest("FunctionInvocationRequest", message))

    def close(self) -> None:
        executor = self.runtime.get_threadpool_executor()
        if executor is not None:
            # Not the runtime's stop_threadpool_executor(): it waits for running functions, and a
            # stopping host must not (the Functions host kills its worker the same way).
            executor.shutdown(wait=False, cancel_futures=True)

    def _check(self, result: Any, what: str) -> None:
        if result.status != self.protos.StatusResult.Success:
            exception = result.exception
            raise WorkerRefusedError(f"{what}: {exception.message}\n{exception.stack_trace}".rstrip())


def _complete(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a handler that finishes without awaiting (the runtime's start-up handlers do)."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value
    coroutine.close()
    raise RuntimeError("an azure-functions-runtime start-up handler awaited; it has to run on the event loop now")
