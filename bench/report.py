"""The benchmark's numbers as values: latency summaries, the targets, the JSON document and the table.

Pure: nothing here does I/O, so the arithmetic and the document's shape are unit-tested
(tests/unit/test_bench_report.py) without a stack.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The variants, in the order the table shows them.
APP, APP_HOST, FLOOR, NAIVE = "app", "app_host", "floor", "naive"
VARIANT_LABELS = {
    APP: "app (in-process)",
    APP_HOST: "app_host (HTTP)",
    FLOOR: "floor",
    NAIVE: "naive (anti-pattern)",
}
INVOCATIONS_PER_TOKEN = 1000


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: a value that was actually observed, never an interpolation."""
    if not values:
        raise ValueError("no samples")
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {q}")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float
    n: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        return cls(percentile(seconds, 50) * 1000, percentile(seconds, 99) * 1000, len(seconds))

    def as_json(self) -> dict[str, float | int]:
        return {"p50": round(self.p50_ms, 2), "p99": round(self.p99_ms, 2), "n": self.n}


@dataclass(frozen=True)
class ColdStart:
    import_function_app_ms: float
    import_sdks_ms: float
    first_invocation_ms: float
    warm_invocation_ms: float
    # Audit events ("socket.connect ...") seen while `function_app` was being imported.
    import_network_events: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "import_function_app": round(self.import_function_app_ms, 1),
            "import_sdks": round(self.import_sdks_ms, 1),
            "first_invocation": round(self.first_invocation_ms, 1),
            "warm_invocation": round(self.warm_invocation_ms, 2),
            "import_network_events": list(self.import_network_events),
        }


@dataclass(frozen=True)
class Results:
    ingest: Mapping[str, Latency]  # one delivery at a time
    ingest_concurrent: Mapping[str, Latency]
    throughput_rps: Mapping[str, float]
    concurrency: int
    listing: Mapping[str, Latency]
    tokens: Mapping[str, Mapping[str, int]]  # variant -> audience -> token requests
    invocations: Mapping[str, int]  # variant -> calls made, warm-up included
    keyvault: Mapping[str, Mapping[str, int]]  # variant -> Key Vault operation -> requests
    keyvault_sources: int  # webhook sources the app was asked about
    keyvault_ttl_windows: int  # secret-cache TTLs the app's part of the run spans
    cold_start: ColdStart | None
    log_bytes_host: float | None  # per delivery, written by the function host
    log_bytes_in_process: float | None  # per delivery, at the level the worker forwards
    run: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    name: str
    label: str
    bound: float
    at_most: bool  # True: measured <= bound; False: measured >= bound
    measured: float | None  # None: the run did not measure it (a variant was left out), so not met

    @property
    def met(self) -> bool:
        if self.measured is None:
            return False
        return self.measured <= self.bound if self.at_most else self.measured >= self.bound

    @property
    def target_text(self) -> str:
        return f"{'<=' if self.at_most else '>='} {self.bound:g}"

    def as_json(self) -> dict[str, Any]:
        measured = None if self.measured is None else round(self.measured, 3)
        return {"target": self.target_text, "measured": measured, "met": self.met}


def token_allowance(invocations: int) -> int:
    """One token request per audience per 1,000 invocations; a run always allows the first one."""
    return max(1, invocations // INVOCATIONS_PER_TOKEN)


def evaluate_targets(results: Results) -> list[Target]:
    app_tokens = results.tokens.get(APP, {})
    app_vault = results.keyvault.get(APP)
    cold = results.cold_start
    return [
        Target(
            "ingest_p50_app_over_floor",
            "ingest p50, app (in-process) / floor",
            1.1,
            True,
            _ratio(_p50(results.ingest, APP), _p50(results.ingest, FLOOR)),
        ),
        Target(
            "ingest_p50_naive_over_app",
            "ingest p50, naive / app (in-process)",
            5,
            False,
            _ratio(_p50(results.ingest, NAIVE), _p50(results.ingest, APP)),
        ),
        Target(
            "token_requests_per_audience",
            f"app token requests per audience ({results.invocations.get(APP, 0)} invocations)",
            token_allowance(results.invocations.get(APP, 0)),
            True,
            max(app_tokens.values()) if app_tokens else None,
        ),
        Target(
            "keyvault_requests_per_source_per_ttl",
            "app Key Vault requests per source per cache TTL",
            3,
            True,
            None
            if app_vault is None
            else sum(app_vault.values()) / max(1, results.keyvault_sources * results.keyvault_ttl_windows),
        ),
        Target(
            "throughput_app_over_floor",
            f"throughput at concurrency {results.concurrency}, app / floor",
            0.8,
            False,
            _ratio(results.throughput_rps.get(APP), results.throughput_rps.get(FLOOR)),
        ),
        Target(
            "import_network_events",
            "network calls while importing function_app",
            0,
            True,
            None if cold is None else len(cold.import_network_events),
        ),
        Target(
            "import_function_app_over_sdks",
            "import time, function_app / its SDK modules",
            1.2,
            True,
            None if cold is None else _ratio(cold.import_function_app_ms, cold.import_sdks_ms),
        ),
    ]


def to_json(results: Results, targets: Sequence[Target]) -> dict[str, Any]:
    invocations = dict(results.invocations)
    return {
        "ingest_ms": _latencies(results.ingest),
        "ingest_concurrent_ms": _latencies(results.ingest_concurrent),
        "list_ms": _latencies(results.listing),
        "token_requests": {
            "invocations": invocations.get(APP, 0),
            **{variant: dict(counts) for variant, counts in results.tokens.items()},
            "invocations_by_variant": invocations,
        },
        "keyvault_requests": {
            **{variant: sum(ops.values()) for variant, ops in results.keyvault.items()},
            "by_operation": {variant: dict(ops) for variant, ops in results.keyvault.items()},
            "sources": results.keyvault_sources,
            "ttl_windows": results.keyvault_ttl_windows,
        },
        "throughput_rps": {
            "concurrency": results.concurrency,
            **{variant: round(rps, 1) for variant, rps in results.throughput_rps.items()},
        },
        "cold_start_ms": None if results.cold_start is None else results.cold_start.as_json(),
        "log_bytes_per_delivery": _rounded(results.log_bytes_host),
        "log_bytes_per_delivery_in_process": _rounded(results.log_bytes_in_process),
        "targets": {target.name: target.as_json() for target in targets},
        "run": dict(results.run),
    }


def render_table(results: Results, targets: Sequence[Target]) -> str:
    lines = ["", f"{'ingest, one at a time':<34}{'p50 ms':>9}{'p99 ms':>9}{'n':>7}"]
    lines += [_latency_row(variant, lat) for variant, lat in _ordered(results.ingest)]
    lines += ["", f"{f'ingest, {results.concurrency} in parallel':<34}{'p50 ms':>9}{'p99 ms':>9}{'n':>7}{'/s':>9}"]
    lines += [
        _latency_row(variant, lat) + f"{results.throughput_rps.get(variant, 0.0):9.1f}"
        for variant, lat in _ordered(results.ingest_concurrent)
    ]
    lines += ["", f"{'list_events, limit 50':<34}{'p50 ms':>9}{'p99 ms':>9}{'n':>7}"]
    lines += [_latency_row(variant, lat) for variant, lat in _ordered(results.listing)]
    lines += ["", "token requests (per audience)"]
    for variant, counts in _ordered(results.tokens):
        audiences = ", ".join(f"{_short_audience(a)} {n}" for a, n in sorted(counts.items())) or "none"
        calls = results.invocations.get(variant, 0)
        lines.append(f"  {_label(variant):<32}{audiences}  ({calls} calls)")
    lines += ["", "Key Vault requests"]
    for variant, ops in _ordered(results.keyvault):
        detail = ", ".join(f"{op} {n}" for op, n in sorted(ops.items()) if n)
        lines.append(f"  {_label(variant):<32}{sum(ops.values()):>6}   {detail}")
    if results.cold_start is not None:
        cold = results.cold_start
        lines += [
            "",
            "cold start (fresh interpreters)",
            f"  {'import function_app':<32}{cold.import_function_app_ms:9.1f} ms",
            f"  {'import its SDK modules':<32}{cold.import_sdks_ms:9.1f} ms",
            f"  {'first invocation':<32}{cold.first_invocation_ms:9.1f} ms",
            f"  {'warm invocation':<32}{cold.warm_invocation_ms:9.2f} ms",
            f"  {'network calls during import':<32}{len(cold.import_network_events):9d}",
        ]
    lines += [
        "",
        "log bytes per delivery",
        f"  {'function host log':<32}{_text(results.log_bytes_host)}",
        f"  {'in-process, worker level':<32}{_text(results.log_bytes_in_process)}",
        "",
        "targets",
    ]
    for target in targets:
        measured = "-" if target.measured is None else f"{target.measured:.3g}"
        verdict = "met   " if target.met else "MISSED"
        lines.append(f"  {verdict} {target.label:<58}{measured:>9}  (target {target.target_text})")
    return "\n".join(lines)


def _p50(latencies: Mapping[str, Latency], variant: str) -> float | None:
    found = latencies.get(variant)
    return None if found is None else found.p50_ms


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _latencies(latencies: Mapping[str, Latency]) -> dict[str, dict[str, float | int]]:
    return {variant: lat.as_json() for variant, lat in _ordered(latencies)}


def _ordered(by_variant: Mapping[str, Any]) -> list[tuple[str, Any]]:
    order = list(VARIANT_LABELS)
    return sorted(by_variant.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))


def _latency_row(variant: str, latency: Latency) -> str:
    return f"  {_label(variant):<32}{latency.p50_ms:9.2f}{latency.p99_ms:9.2f}{latency.n:7d}"


def _label(variant: str) -> str:
    return VARIANT_LABELS.get(variant, variant)


def _short_audience(audience: str) -> str:
    """`https://vault.azure.net` -> `vault.azure.net`; the table has little room."""
    return audience.removeprefix("https://").rstrip("/")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _text(value: float | None) -> str:
    return "-" if value is None else f"{value:9.0f}"
