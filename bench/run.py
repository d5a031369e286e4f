"""`python3 dev.py bench`: start the local stack and print how fast the app is on it.

Measures, on this machine: stack start-up, ingest latency (sequential) and throughput (concurrent),
query latency, and how many token and Key Vault requests all of that cost (clients and secrets are
meant to be reused, so both stay flat however many requests are served). Loopback only; every loop
is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from devstack.sign import signature_header
from devstack.testing import StackInfo, StackProcess

# One 1 KiB JSON payload; each delivery gets its own id, so every one is a new event.
BODY = json.dumps({"bench": True, "padding": "x" * 1024}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="deliveries per phase (default 300)")
    parser.add_argument("--concurrency", type=int, default=20, help="parallel senders in the throughput phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        started = time.perf_counter()
        stack = StackProcess(Path(state))
        try:
            info = stack.wait_ready()
            print(f"stack ready                 {time.perf_counter() - started:8.2f} s")
            asyncio.run(measure(info, Path(state), args.requests, args.concurrency))
        finally:
            stack.stop()


async def measure(info: StackInfo, state: Path, count: int, concurrency: int) -> None:
    header, secret_signature = _signature(state)
    base = f"{info.env.host_url}/api"
    tokens_before, vault_before = sum(info.token_counts().values()), sum(info.keyvault_counts().values())
    async with aiohttp.ClientSession() as http:

        async def deliver() -> float:
            headers = {header: secret_signature, "X-GitHub-Delivery": str(uuid.uuid4()), "X-GitHub-Event": "push"}
            begun = time.perf_counter()
            async with http.post(f"{base}/webhooks/github", data=BODY, headers=headers) as response:
                assert response.status == 202, await response.text()
            return time.perf_counter() - begun

        await deliver()  # first request: credential, clients and secret cache are created here
        sequential = [await deliver() for _ in range(count)]
        _report("ingest, one at a time", sequential)

        gate = asyncio.Semaphore(concurrency)

        async def gated() -> float:
            async with gate:
                return await deliver()

        begun = time.perf_counter()
        parallel = await asyncio.gather(*(gated() for _ in range(count)))
        elapsed = time.perf_counter() - begun
        _report(f"ingest, {concurrency} in parallel", list(parallel))
        print(f"  throughput                {count / elapsed:8.1f} deliveries/s")

        key = {"x-functions-key": info.env.function_key}

        async def query() -> float:
            begun = time.perf_counter()
            async with http.get(f"{base}/webhooks/github/events?limit=50", headers=key) as response:
                assert response.status == 200
                await response.read()
            return time.perf_counter() - begun

        _report("list_events, limit 50", [await query() for _ in range(min(count, 100))])
    tokens = sum(info.token_counts().values()) - tokens_before
    vault = sum(info.keyvault_counts().values()) - vault_before
    print(f"token requests during run   {tokens:8d}")
    print(f"Key Vault requests          {vault:8d}")


def _signature(state: Path) -> tuple[str, str]:
    name, _, value = signature_header(state / "env.json", "github", BODY).partition(": ")
    return name, value


def _report(label: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(f"{label:<27} p50 {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms   n={len(ms)}")


if __name__ == "__main__":
    main()
