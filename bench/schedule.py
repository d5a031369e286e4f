"""Running a phase: each variant's calls in blocks, one variant at a time, with what each block cost.

Azurite and the local Cosmos slow down as data accumulates (FIELD-NOTES), so a variant measured
later would pay for the ones before it. Blocks therefore go in mirrored rounds (A B C, C B A, ...),
which cancels a steady drift between variants. One variant runs at a time, so the stack's token and
Key Vault counters, read around every block, say exactly what that variant cost. Blocks are
short, so neighbouring blocks of different variants see the same machine (it is shared, and other
work on it comes and goes in bursts of seconds).

A concurrent block starts with every sender at once and ends draining; its rate (calls / wall time)
is close to the steady rate only when a block holds many times more calls than there are senders,
so concurrent phases use fewer, longer blocks (bench/plan.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from bench.counters import StackCounters, Tally
from bench.log_bytes import LogMeter

Call = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Entrant:
    variant: str
    call: Call
    count: int  # calls over the whole phase, split across its rounds
    meter: LogMeter | None = None


@dataclass
class VariantStats:
    samples: list[float] = field(default_factory=list)  # seconds per call
    elapsed: float = 0.0  # wall time inside this variant's blocks
    log_bytes: int = 0
    tally: Tally = field(default_factory=Tally.empty)
    first_started: float | None = None  # time.monotonic()
    last_finished: float | None = None

    @property
    def calls(self) -> int:
        return len(self.samples)

    @property
    def rate(self) -> float:
        return self.calls / self.elapsed if self.elapsed else 0.0


def block_sizes(count: int, rounds: int) -> list[int]:
    """`count` split over `rounds` as evenly as possible, larger blocks first."""
    base, extra = divmod(count, rounds)
    return [base + (1 if r < extra else 0) for r in range(rounds)]


def round_order(entrants: Sequence[Entrant], round_index: int) -> list[Entrant]:
    return list(entrants) if round_index % 2 == 0 else list(reversed(entrants))


async def run_phase(
    entrants: Sequence[Entrant], counters: StackCounters, *, rounds: int = 1, concurrency: int = 1
) -> dict[str, VariantStats]:
    stats = {entrant.variant: VariantStats() for entrant in entrants}
    sizes = {entrant.variant: block_sizes(entrant.count, rounds) for entrant in entrants}
    for round_index in range(rounds):
        for entrant in round_order(entrants, round_index):
            size = sizes[entrant.variant][round_index]
            if size:
                await _run_block(entrant, size, concurrency, counters, stats[entrant.variant])
    return stats


async def _run_block(
    entrant: Entrant, size: int, concurrency: int, counters: StackCounters, into: VariantStats
) -> None:
    if entrant.meter is not None:
        entrant.meter.start()
    before = counters.snapshot()
    started = time.monotonic()
    into.first_started = started if into.first_started is None else into.first_started
    began = time.perf_counter()
    into.samples += await drive(entrant.call, size, concurrency)
    into.elapsed += time.perf_counter() - began
    into.last_finished = time.monotonic()
    into.tally.add(before, counters.snapshot())
    if entrant.meter is not None:
        into.log_bytes += entrant.meter.stop()


async def drive(call: Call, count: int, concurrency: int) -> list[float]:
    """`count` calls from `concurrency` senders, each starting its next call when the last returns."""
    samples: list[float] = []
    remaining = count

    async def sender() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            began = time.perf_counter()
            await call()
            samples.append(time.perf_counter() - began)

    async with asyncio.TaskGroup() as senders:
        for _ in range(min(concurrency, count)):
            senders.create_task(sender())
    return samples
