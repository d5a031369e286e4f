"""`python3 dev.py bench` (also `python -m bench`): the app beside its floor and the naive way, on one fresh stack.

One private stack is started for the run (Azurite and the local Cosmos slow down as data
accumulates, so a shared one would skew every number). On it, side by side:
- app: the real functions called in this process, with real `azure.functions.HttpRequest`s;
- app_host: the same functions through the local Functions host over HTTP;
- floor: the same backend calls made directly with warm clients (bench/floor.py);
- naive: the same ingest written as tutorials teach it (bench/naive.py, the anti-pattern).

Phases, each in mirrored rounds of blocks (bench/schedule.py): one warm-up call each; ingest one at a
time; ingest with `--concurrency` senders (app, app_host, floor); list_events limit 50 (app,
app_host, floor). Before them, cold start in fresh interpreters (bench/cold_start.py). Token and Key
Vault requests come from the stack's own counters, per block. The table goes to stdout, progress to
stderr, and the JSON document to `--out` (default .devstack/bench.json). The targets are printed
with met or MISSED; nothing here fails because one was missed. Loopback only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from devstack.testing import StackInfo, StackProcess

from bench.plan import DEFAULT_CONCURRENCY, DEFAULT_REQUESTS, Plan
from bench.report import Results, evaluate_targets, render_table, to_json

ROOT = Path(__file__).resolve().parent.parent  # the repository root

DEFAULT_OUT = ROOT / ".devstack" / "bench.json"
# Modules that read the environment once, at import, in ways the app depends on.
IMPORT_TIME_READERS = ("aiohttp",)  # its default TLS context, from SSL_CERT_FILE


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    plan = Plan(args.requests, args.concurrency, args.profile)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as state:
        stack = StackProcess(Path(state))
        try:
            info = stack.wait_ready()
            stack_start = time.perf_counter() - began
            print(f"private stack ready in {stack_start:.2f} s", file=sys.stderr, flush=True)
            enter_app_environment(info.settings)
            # Only now: see bench/measure.py's docstring.
            measure: Callable[[StackInfo, Plan], Results] = importlib.import_module("bench.measure").measure
            results = measure(info, plan)
        finally:
            stack.stop()
    wall = time.perf_counter() - began
    results = dataclasses.replace(
        results, run={**results.run, "stack_start_s": round(stack_start, 2), "wall_s": round(wall, 1)}
    )
    targets = evaluate_targets(results)
    print(render_table(results, targets))
    print(f"\nstack start {stack_start:.2f} s, whole run {wall:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(to_json(results, targets), indent=2) + "\n")
    print(f"JSON written to {args.out}")
    return 0


def enter_app_environment(settings: Mapping[str, str]) -> None:
    """Give this process the app's settings (identity endpoint, proxy, CA...), as the worker gets them.

    In Azure they are in the worker's environment before it starts; here they exist only once the
    stack is up, so nothing that reads them at import time may have been imported before.
    """
    early = [module for module in IMPORT_TIME_READERS if module in sys.modules]
    if early:
        raise RuntimeError(f"{', '.join(early)} imported before the app's settings were set; import it later")
    os.environ.update(settings)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests",
        type=_positive,
        default=DEFAULT_REQUESTS,
        help=f"deliveries one at a time per variant (default {DEFAULT_REQUESTS}); twice as many run concurrently, "
        "a quarter as many for naive and for list_events",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive,
        default=DEFAULT_CONCURRENCY,
        help=f"senders in the concurrent phase (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON (default %(default)s)")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="also profile the in-process concurrent phase with pyinstrument (if installed); .html or text",
    )
    return parser.parse_args(argv)


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


if __name__ == "__main__":
    sys.exit(main())
