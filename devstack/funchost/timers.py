"""Timer functions: run on request (admin API) and once at start-up when `runOnStartup` is set.

This is a development host, so schedules are never fired on their own. Runs happen in background
tasks that are kept until they finish (an unreferenced task can be garbage-collected mid-run);
failures are already logged by the invoker with their traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from azure.functions.timer import TimerRequest

from devstack.funchost.indexing import AppFunction, TimerTrigger
from devstack.funchost.invoker import Invoker, Outcome

log = logging.getLogger("devstack.funchost")


class TimerRunner:
    def __init__(self, invoker: Invoker) -> None:
        self._invoker = invoker
        self._running: set[asyncio.Task[Outcome[None]]] = set()

    def start(self, function: AppFunction) -> asyncio.Task[Outcome[None]]:
        if not isinstance(function.trigger, TimerTrigger):
            raise TypeError(f"{function.name} is not a timer function")
        task = asyncio.create_task(self._invoker.invoke(function, _timer_request(), _expect_no_return_value))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    def start_run_on_startup(self, functions: Iterable[AppFunction]) -> None:
        for function in functions:
            if isinstance(function.trigger, TimerTrigger) and function.trigger.run_on_startup:
                log.info("Running timer function '%s' at start-up (runOnStartup)", function.name)
                self.start(function)

    async def drain(self, grace_seconds: float) -> None:
        """Give running timers `grace_seconds` to finish on shutdown, then cancel them."""
        if not self._running:
            return
        _, pending = await asyncio.wait(set(self._running), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*pending, return_exceptions=True)


def _timer_request() -> TimerRequest:
    # What a manual run looks like to the function: not past due, no monitor status yet.
    return TimerRequest(past_due=False, schedule_status={}, schedule={"AdjustForDST": True})


def _expect_no_return_value(value: object) -> None:
    # A timer has no $return binding; the worker fails an invocation that returns something anyway.
    if value is not None:
        raise RuntimeError(f"a timer function returned {type(value).__name__}; it has no $return binding")
