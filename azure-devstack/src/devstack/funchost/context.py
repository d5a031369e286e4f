"""The invocation context: what `context: func.Context` receives, and which invocation is running now.

`current_invocation` is set for the whole of each invocation (on the event loop for async functions,
copied into the pool thread for sync ones), so log records emitted by app code through plain
`logging.getLogger(__name__)` can be tagged with the invocation id, as the real worker does. Threads
the app starts itself do not inherit it; like the worker, the formatter then falls back to
`context.thread_local_storage.invocation_id`, which such threads can set.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field

import azure.functions as func
from azure.functions import _abc as func_abc  # the trace/retry ABCs are not re-exported by azure.functions

# One thread-local object shared by every context, as in the worker: the worker sets
# `invocation_id` on it in the thread that runs a sync function.
THREAD_LOCAL_STORAGE = threading.local()


class TraceContext(func_abc.TraceContext):
    def __init__(self, trace_parent: str, trace_state: str = "") -> None:
        self._trace_parent = trace_parent
        self._trace_state = trace_state

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class NoException(func_abc.RpcException):
    @property
    def source(self) -> str:
        return ""

    @property
    def stack_trace(self) -> str:
        return ""

    @property
    def message(self) -> str:
        return ""


class RetryContext(func_abc.RetryContext):
    """A first attempt with no retry policy, which is what every devstack invocation is."""

    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> func_abc.RpcException:
        return NoException()


class InvocationContext(func.Context):
    def __init__(
        self, invocation_id: str, function_name: str, function_directory: str, trace_context: TraceContext
    ) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace_context = trace_context
        self._retry_context = RetryContext()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> threading.local:  # type: ignore[override]  # the worker returns the instance
        return THREAD_LOCAL_STORAGE

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return self._trace_context

    @property
    def retry_context(self) -> RetryContext:
        return self._retry_context


@dataclass(frozen=True)
class Invocation:
    function_name: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


current_invocation: ContextVar[Invocation | None] = ContextVar("devstack_funchost_invocation", default=None)


def trace_parent_for(incoming: str | None) -> str:
    """Continue the caller's W3C trace if it sent a valid `traceparent`, else start a new one.

    The host's own span is marked sampled (flags 01): a development host records every request, so
    the app's spans under it are recorded too (with 00 a parent-based sampler drops them all).
    """
    trace_id = incoming.split("-")[1] if incoming and _is_trace_parent(incoming) else secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


def _is_trace_parent(value: str) -> bool:
    parts = value.strip().split("-")
    hex_digits = set("0123456789abcdef")
    return (
        len(parts) == 4
        and [len(p) for p in parts] == [2, 32, 16, 2]
        and all(set(p) <= hex_digits for p in parts)
        and parts[1] != "0" * 32
    )
