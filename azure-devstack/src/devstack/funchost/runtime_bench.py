"""Per-invocation cost of each invoker: `python -m devstack.funchost.runtime_bench [--invocations N]`.

Each invoker runs in a fresh interpreter (an app is indexed once per process) against
tests/devstack/runtime_app's `ping` (async) and `ping_sync` functions, which only return "pong". One
invocation is the host's whole share of a request without the HTTP server: aiohttp request to
HttpTriggerData, `Invoker.invoke` (with its log line, written to /dev/null), HttpResult to
web.Response. The in-process invoker is measured on this Python too, by indexing in-process directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from aiohttp.test_utils import make_mocked_request

from devstack.funchost import indexing, runtime_worker, worker_index
from devstack.funchost.http_binding import to_function_request, to_web_response
from devstack.funchost.invoker import Invoker
from devstack.funchost.logs import configure_logging

# The package's own test app (azure-devstack/tests/devstack/runtime_app), beside src/ in the source tree.
PACKAGE_ROOT = Path(__file__).resolve().parents[3]
APP_DIR = PACKAGE_ROOT / "tests" / "devstack" / "runtime_app"
FUNCTIONS = ("ping", "ping_sync")
WARM_UP = 200


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.funchost.runtime_bench")
    parser.add_argument("--invocations", type=int, default=2000)
    parser.add_argument("--child", choices=("runtime", "in-process"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        configure_logging(open(os.devnull, "w"))  # noqa: SIM115  # lives as long as this child process
        print(json.dumps(asyncio.run(_measure(args.child, args.invocations))))
        return 0
    invokers = ["runtime", "in-process"] if runtime_worker.available() else ["in-process"]
    for invoker in invokers:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "devstack.funchost.runtime_bench",
                "--child",
                invoker,
                "--invocations",
                str(args.invocations),
            ],
            cwd=PACKAGE_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        costs = json.loads(out.strip().splitlines()[-1])
        print(f"{invoker:>10}: " + ", ".join(f"{name} {micros:.0f} µs" for name, micros in costs.items()), flush=True)
    return 0


async def _measure(invoker_name: str, invocations: int) -> dict[str, float]:
    if invoker_name == "runtime":
        app = indexing.index_app(APP_DIR)
    else:
        worker_index.enter_app_dir(APP_DIR)
        app = indexing.index_in_process(APP_DIR, indexing.read_route_prefix(APP_DIR))
    functions = {function.name: function for function in app.functions}
    invoker = Invoker()
    costs = {}
    for name in FUNCTIONS:
        request = make_mocked_request("GET", f"/rt/{name}", headers={"Host": "127.0.0.1"})
        for count, record in ((WARM_UP, False), (invocations, True)):
            started = time.perf_counter()
            for _ in range(count):
                outcome = await invoker.invoke(functions[name], to_function_request(request, b"", {}), to_web_response)
                if outcome.value is None or outcome.value.body != b"pong":
                    raise RuntimeError(f"{name} did not answer pong")
            if record:
                costs[name] = (time.perf_counter() - started) / invocations * 1e6
    invoker.close()
    return costs


if __name__ == "__main__":
    sys.exit(main())
