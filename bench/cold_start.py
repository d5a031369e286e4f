"""Cold start, measured in fresh interpreters, as a new worker process meets the app.

Two probes, each a new `python -m bench.cold_start PROBE` child, alternated a few times. Import
times keep the fastest run (the machine is shared: the least disturbed run is the best estimate of
what the import itself costs); invocation times keep the median.
- `app`: imports `function_app`, as the worker does at start-up, with an audit hook that records any
  `socket.connect` or `socket.getaddrinfo` during the import: indexing must not touch the network
  (in Azure it runs before the app's identity or network may be ready). Then the first invocation,
  which makes the credential and the clients and fetches tokens and the signing secret, and the
  median of later ones.
- `sdks`: imports only the SDK modules the app is built on, the least an app like this can cost.

This module imports nothing but the standard library at the top, so a probe's timings start clean.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.report import ColdStart

ROOT = Path(__file__).resolve().parent.parent
MODULE = "bench.cold_start"
# What function_app's imports come down to; azure.core and the sync packages load beneath these.
SDK_MODULES = (
    "azure.functions",
    "azure.identity.aio",
    "azure.keyvault.secrets.aio",
    "azure.storage.blob.aio",
    "azure.cosmos.aio",
)
NETWORK_EVENTS = frozenset({"socket.connect", "socket.getaddrinfo"})
REPEATS = 7
WARM_CALLS = 20
PROBE_TIMEOUT_SECONDS = 120


def measure_cold_start(signature: str, repeats: int = REPEATS) -> ColdStart:
    """Run the probes (the app's settings must be in os.environ: the children inherit them)."""
    apps, sdks = [], []
    for _ in range(repeats):
        apps.append(_run_probe("app", signature))
        sdks.append(_run_probe("sdks", signature))
    events = sorted({event for probe in apps for event in probe["network_events"]})
    return ColdStart(
        import_function_app_ms=min(p["import_ms"] for p in apps),
        import_sdks_ms=min(p["import_ms"] for p in sdks),
        first_invocation_ms=statistics.median(p["first_invocation_ms"] for p in apps),
        warm_invocation_ms=statistics.median(p["warm_invocation_ms"] for p in apps),
        import_network_events=tuple(events),
    )


def _run_probe(probe: str, signature: str) -> dict[str, Any]:
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", MODULE, probe],
        input=json.dumps({"signature": signature}),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=PROBE_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the {probe} cold-start probe failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


# --- inside the child ---------------------------------------------------------------------------------


def _probe_sdks() -> dict[str, Any]:
    started = time.perf_counter()
    for module in SDK_MODULES:
        importlib.import_module(module)
    return {"import_ms": (time.perf_counter() - started) * 1000}


def _probe_app(signature: str) -> dict[str, Any]:
    events: list[str] = []
    importing = [True]  # audit hooks cannot be removed; this switches the recording off after import

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if importing[0] and event in NETWORK_EVENTS:
            events.append(f"{event} {args!r}"[:300])

    sys.addaudithook(audit)
    started = time.perf_counter()
    importlib.import_module("function_app")
    import_ms = (time.perf_counter() - started) * 1000
    importing[0] = False
    first_ms, warm_ms = asyncio.run(_invocations(signature))
    return {
        "import_ms": import_ms,
        "network_events": events,
        "first_invocation_ms": first_ms,
        "warm_invocation_ms": warm_ms,
    }


async def _invocations(signature: str) -> tuple[float, float]:
    # Only now: importing the bench's caller pulls in azure.functions, which the import timing must not see.
    from bench.app_inprocess import InProcessApp  # noqa: PLC0415
    from bench.deliveries import new_event_id  # noqa: PLC0415

    app = InProcessApp(signature)  # indexing happens at worker start-up, before any invocation
    started = time.perf_counter()
    await app.ingest(new_event_id())
    first = time.perf_counter() - started
    warm = []
    for _ in range(WARM_CALLS):
        started = time.perf_counter()
        await app.ingest(new_event_id())
        warm.append(time.perf_counter() - started)
    return first * 1000, statistics.median(warm) * 1000


def main(argv: list[str]) -> int:
    if argv not in (["app"], ["sdks"]):
        print(f"usage: python -m {MODULE} app|sdks  (JSON {{'signature': ...}} on stdin for app)", file=sys.stderr)
        return 2
    result = _probe_sdks() if argv == ["sdks"] else _probe_app(json.loads(sys.stdin.read())["signature"])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
