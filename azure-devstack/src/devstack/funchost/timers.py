"""Timer functions: run on request (admin API) and once at start-up when `runOnStartup` is set.

This is a development host, so schedules are never fired on their own. Runs happen in background
tasks that are kept until they finish (an unreferenced task can be garbage-collected mid-run);
failures are already logged by the invoker with their traceback.

What a run hands the worker is the host's TimerInfo, which it sends as JSON (Newtonsoft's property
names): `{"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": false}` for a run
that is not past due and has no schedule monitor status (the devstack host keeps none).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from azure.functions.timer import TimerRequest

from devstack.funchost.indexing import AppFunction, TimerTrigger

if TYPE_CHECKING:  # the invoker takes TimerInfo values; only the annotations here need it
    from devstack.funchost.invoker import Invoker, Outcome

log = logging.getLogger("devstack.funchost")


@dataclass(frozen=True)
class TimerInfo:
    is_past_due: bool = False
    schedule_status: dict[str, Any] | None = None
    schedule: dict[str, Any] = field(default_factory=lambda: {"AdjustForDST": True})

    def to_json(self) -> str:
        """The TypedData json the host sends the worker."""
        document = {"Schedule": self.schedule, "ScheduleStatus": self.schedule_status, "IsPastDue": self.is_past_due}
        return json.dumps(document)

    def python_argument(self) -> TimerRequest:
        """What the in-process invoker passes (Python 3.11/3.12), as the TimerRequest converter builds it."""
        return TimerRequest(past_due=self.is_past_due, schedule_status=self.schedule_status, schedule=self.schedule)


class TimerRunner:
    def __init__(self, invoker: Invoker) -> None:
        self._invoker = invoker
        self._running: set[asyncio.Task[Outcome[None]]] = set()

    def start(self, function: AppFunction) -> asyncio.Task[Outcome[None]]:
        if not isinstance(function.trigger, TimerTrigger):
            raise TypeError(f"{function.name} is not a timer function")
        task = asyncio.create_task(self._invoker.invoke(function, TimerInfo(), _expect_no_return_value))
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


def _expect_no_return_value(value: object) -> None:
    # A timer has no $return binding; the worker fails an invocation that returns something anyway.
    if value is not None:
        raise RuntimeError(f"a timer function returned {type(value).__name__}; it has no $return binding")
