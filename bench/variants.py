"""The four variants behind one shape, and the log meter each one runs under.

- app: the real functions in this process, logging as the Azure worker would forward it;
- app_host: the same functions behind the local Functions host (its log file is the meter);
- floor: the bare backend calls, with no logging (the root logger stays at Python's WARNING);
- naive: the tutorial version, also under the worker's logging, since it would run in a worker too.
  Sharing this process with the app flatters it a little: the app quiets the `azure` loggers
  process-wide, and the Key Vault SDK caches the vault's challenge per process (the app paid it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from devstack.testing import StackInfo

from bench import naive
from bench.app_host import HostApp
from bench.app_inprocess import InProcessApp
from bench.deliveries import BODY, CONTENT_TYPE, EVENT_TYPE, SOURCE, new_event_id
from bench.floor import Floor
from bench.log_bytes import HostLogMeter, LogMeter, WorkerLogging
from bench.report import APP, APP_HOST, FLOOR, NAIVE
from bench.schedule import Call, Entrant


class Ingests(Protocol):
    async def ingest(self, event_id: str) -> None: ...


class Lists(Protocol):
    async def list_events(self) -> None: ...


class NaiveApp:
    """Runs the synchronous anti-pattern on a thread, as the worker runs a sync function."""

    def __init__(self, signature: str) -> None:
        self._signature = signature

    async def ingest(self, event_id: str) -> None:
        await asyncio.to_thread(
            naive.ingest,
            SOURCE,
            event_id,
            event_type=EVENT_TYPE,
            body=BODY,
            content_type=CONTENT_TYPE,
            signature=self._signature,
        )


@dataclass
class Variants:
    app: InProcessApp
    app_host: HostApp
    floor: Floor
    naive: NaiveApp
    meters: Mapping[str, LogMeter | None]

    @classmethod
    def open(cls, info: StackInfo, signature: str, worker_level: int) -> Variants:
        """Inside the running event loop: the floor's and the host client's sessions belong to it."""
        return cls(
            app=InProcessApp(signature),
            app_host=HostApp(info.env.host_url, info.env.function_key, signature),
            floor=Floor(info.settings),
            naive=NaiveApp(signature),
            meters={
                APP: WorkerLogging(worker_level),
                APP_HOST: HostLogMeter(Path(info.env.devstack["logDir"])),
                FLOOR: None,
                NAIVE: WorkerLogging(worker_level),
            },
        )

    def ingesting(self, counts: Mapping[str, int]) -> list[Entrant]:
        """Entrants for an ingest phase, in the order of `counts`."""
        targets: dict[str, Ingests] = {APP: self.app, APP_HOST: self.app_host, FLOOR: self.floor, NAIVE: self.naive}
        return [Entrant(v, _ingest_call(targets[v]), n, self.meters[v]) for v, n in counts.items()]

    def listing(self, variants: Sequence[str], count: int) -> list[Entrant]:
        targets: dict[str, Lists] = {APP: self.app, APP_HOST: self.app_host, FLOOR: self.floor}
        return [Entrant(v, targets[v].list_events, count, self.meters[v]) for v in variants]

    async def close(self) -> None:
        # The in-process app's clients live as long as the process, as in the worker.
        await self.app_host.close()
        await self.floor.close()


def _ingest_call(target: Ingests) -> Call:
    async def call() -> None:
        await target.ingest(new_event_id())

    return call
