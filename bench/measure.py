"""The measuring itself, on a running stack, in a process that already has the app's settings.

Imported only once those settings are in os.environ (see bench/run.py): aiohttp builds its default
TLS context when it is first imported, from SSL_CERT_FILE as it is then, and the app's clients use
that context to trust the local CA, as the worker's would in a process started with its settings.

Order: cold start in fresh interpreters first, while the stack is idle; then, in one event loop
(the app's clients belong to it), a warm-up call per variant, ingest one at a time, ingest with
`concurrency` senders, list_events, and optionally the profiled extra block.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from devstack.testing import StackInfo

from bench.cold_start import measure_cold_start
from bench.counters import StackCounters, Tally
from bench.deliveries import BODY, SOURCE
from bench.log_bytes import forwarded_level, read_host_json
from bench.plan import CONCURRENT_ROUNDS, LIST_ROUNDS, SEQUENTIAL_ROUNDS, Plan
from bench.profiling import profiled
from bench.report import APP, APP_HOST, FLOOR, NAIVE, ColdStart, Latency, Results
from bench.schedule import VariantStats, run_phase
from bench.variants import Variants

ROOT = Path(__file__).resolve().parent.parent  # the repository root

SIGN_TIMEOUT_SECONDS = 60
T = TypeVar("T")
Phase = dict[str, VariantStats]


def measure(info: StackInfo, plan: Plan) -> Results:
    """Everything but the stack's start; the app's settings must already be in os.environ."""
    signature = _signature(info)
    progress("cold start: fresh interpreters importing function_app, then its SDK modules")
    cold = measure_cold_start(signature)
    return asyncio.run(_measure_on_stack(info, plan, signature, cold))


async def _measure_on_stack(info: StackInfo, plan: Plan, signature: str, cold: ColdStart) -> Results:
    counters = StackCounters(info, info.settings["AZURE_CLIENT_ID"])
    worker_level = forwarded_level(read_host_json(ROOT))
    variants = Variants.open(info, signature, worker_level)
    n, c = plan.requests, plan.concurrency
    try:
        warmup = await _timed(
            "warm-up: one delivery each",
            run_phase(variants.ingesting({APP: 1, FLOOR: 1, APP_HOST: 1, NAIVE: 1}), counters),
        )
        sequential = await _timed(
            f"ingest one at a time: {n} each, naive {plan.naive_requests}",
            run_phase(
                variants.ingesting({APP: n, FLOOR: n, APP_HOST: n, NAIVE: plan.naive_requests}),
                counters,
                rounds=SEQUENTIAL_ROUNDS,
            ),
        )
        concurrent = await _timed(
            f"ingest with {c} senders: {plan.concurrent_requests} each",
            run_phase(
                variants.ingesting({v: plan.concurrent_requests for v in (APP, FLOOR, APP_HOST)}),
                counters,
                rounds=CONCURRENT_ROUNDS,
                concurrency=c,
            ),
        )
        listing = await _timed(
            f"list_events: {plan.list_requests} each",
            run_phase(variants.listing((APP, FLOOR, APP_HOST), plan.list_requests), counters, rounds=LIST_ROUNDS),
        )
        if plan.profile is not None:
            # An extra block, after the measured ones, so the profiler's overhead is in no number above.
            with profiled(plan.profile):
                await _timed(
                    f"profiling the app with {c} senders: {plan.concurrent_requests} more deliveries",
                    run_phase(variants.ingesting({APP: plan.concurrent_requests}), counters, concurrency=c),
                )
    finally:
        await variants.close()
        # The app's clients live for the process, as in the worker, and are never closed: the
        # "Unclosed client session" notices at exit say nothing about the measurement.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    return _results(
        plan,
        {"warmup": warmup, "sequential": sequential, "concurrent": concurrent, "listing": listing},
        cold,
        secret_ttl=int(info.settings.get("SECRET_CACHE_SECONDS", "300")),
        worker_level=worker_level,
    )


def _signature(info: StackInfo) -> str:
    """The delivery's signature, from scripts/sign.py in a child process.

    Not in this one: the Key Vault SDK caches a vault's authentication challenge per process, so
    reading the secret here would spare the in-process app the challenge it pays in a real worker.
    """
    payload = info.state_dir / "bench-payload.json"
    payload.write_bytes(BODY)
    printed = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(ROOT / "scripts" / "sign.py"), SOURCE, str(payload), "--state-dir", str(info.state_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SIGN_TIMEOUT_SECONDS,
        check=True,
    ).stdout
    header = printed.strip().splitlines()[-1]  # "X-Hub-Signature-256: sha256=..."
    return header.partition(": ")[2]


def _results(
    plan: Plan, phases: Mapping[str, Phase], cold: ColdStart, *, secret_ttl: int, worker_level: int
) -> Results:
    every = list(phases.values())
    variants = sorted({variant for phase in every for variant in phase})
    ingest_phases = [phases["sequential"], phases["concurrent"]]
    app_blocks = [phase[APP] for phase in every if APP in phase]
    app_span = max(s.last_finished or 0.0 for s in app_blocks) - min(s.first_started or 0.0 for s in app_blocks)
    return Results(
        ingest={v: Latency.of(s.samples) for v, s in phases["sequential"].items()},
        ingest_concurrent={v: Latency.of(s.samples) for v, s in phases["concurrent"].items()},
        throughput_rps={v: s.rate for v, s in phases["concurrent"].items()},
        concurrency=plan.concurrency,
        listing={v: Latency.of(s.samples) for v, s in phases["listing"].items()},
        tokens={v: dict(_summed(every, v, lambda tally: tally.tokens)) for v in variants},
        invocations={v: sum(phase[v].calls for phase in every if v in phase) for v in variants},
        keyvault={v: dict(_summed(every, v, lambda tally: tally.keyvault)) for v in variants},
        keyvault_sources=1,  # every delivery is for SOURCE
        keyvault_ttl_windows=max(1, math.ceil(app_span / secret_ttl)),
        cold_start=cold,
        log_bytes_host=_per_call(ingest_phases, APP_HOST),
        log_bytes_in_process=_per_call(ingest_phases, APP),
        run={
            **plan.as_json(),
            "worker_log_level": logging.getLevelName(worker_level),
            "secret_cache_seconds": secret_ttl,
            "app_span_s": round(app_span, 1),
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
        },
    )


def _summed(phases: Sequence[Phase], variant: str, counts: Callable[[Tally], Counter[str]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for phase in phases:
        if variant in phase:
            total.update(counts(phase[variant].tally))
    return total


def _per_call(phases: Sequence[Phase], variant: str) -> float | None:
    calls = sum(phase[variant].calls for phase in phases if variant in phase)
    logged = sum(phase[variant].log_bytes for phase in phases if variant in phase)
    return logged / calls if calls else None


async def _timed(label: str, work: Awaitable[T]) -> T:
    progress(f"{label} ...")
    began = time.perf_counter()
    result = await work
    progress(f"  done in {time.perf_counter() - began:.1f} s")
    return result


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
