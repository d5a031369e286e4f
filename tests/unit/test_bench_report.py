"""The benchmark's pure parts: percentiles, blocks, target verdicts and the JSON document's shape."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from bench.log_bytes import forwarded_level
from bench.report import (
    ColdStart,
    Latency,
    Results,
    Target,
    evaluate_targets,
    percentile,
    render_table,
    to_json,
    token_allowance,
)
from bench.schedule import block_sizes, drive


def results(**changes: Any) -> Results:
    fields: dict[str, Any] = {
        "ingest": {
            "app": Latency(10.0, 20.0, 400),
            "app_host": Latency(14.0, 30.0, 400),
            "floor": Latency(9.5, 18.0, 400),
            "naive": Latency(80.0, 120.0, 100),
        },
        "ingest_concurrent": {"app": Latency(100.0, 200.0, 800), "floor": Latency(90.0, 150.0, 800)},
        "throughput_rps": {"app": 300.0, "floor": 350.0, "app_host": 200.0},
        "concurrency": 32,
        "listing": {"app": Latency(5.0, 9.0, 100), "floor": Latency(4.0, 8.0, 100)},
        "tokens": {
            "app": {"https://vault.azure.net": 1, "https://storage.azure.com": 1},
            "naive": {"https://vault.azure.net": 101},
        },
        "invocations": {"app": 1301, "naive": 101},
        "keyvault": {"app": {"challenge": 1, "getSecret": 1, "getSecretVersions": 1}, "naive": {"getSecret": 101}},
        "keyvault_sources": 1,
        "keyvault_ttl_windows": 1,
        "cold_start": ColdStart(500.0, 450.0, 120.0, 6.0),
        "log_bytes_host": 4321.0,
        "log_bytes_in_process": 4000.0,
    }
    fields.update(changes)
    return Results(**fields)


def by_name(targets: list[Target]) -> dict[str, Target]:
    return {target.name: target for target in targets}


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order of the samples does not matter


def test_percentile_refuses_no_samples_and_bad_ranks() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], 0)


def test_latency_is_reported_in_milliseconds() -> None:
    latency = Latency.of([0.001 * v for v in range(1, 201)])
    assert latency.as_json() == {"p50": 100.0, "p99": 198.0, "n": 200}


def test_blocks_split_a_count_evenly_over_rounds() -> None:
    assert block_sizes(400, 4) == [100, 100, 100, 100]
    assert block_sizes(10, 4) == [3, 3, 2, 2]
    assert block_sizes(1, 4) == [1, 0, 0, 0]


def test_targets_are_met_or_missed_by_their_bounds() -> None:
    targets = by_name(evaluate_targets(results()))
    assert targets["ingest_p50_app_over_floor"].measured == pytest.approx(10 / 9.5)
    assert targets["ingest_p50_app_over_floor"].met
    assert targets["ingest_p50_naive_over_app"].met  # 8x
    assert targets["token_requests_per_audience"].met
    assert targets["keyvault_requests_per_source_per_ttl"].measured == 3
    assert targets["keyvault_requests_per_source_per_ttl"].met
    assert targets["throughput_app_over_floor"].met  # 300 / 350 = 0.857
    assert targets["import_network_events"].met
    assert targets["import_function_app_over_sdks"].met  # 500 / 450 = 1.11

    slow = by_name(evaluate_targets(results(throughput_rps={"app": 100.0, "floor": 350.0})))
    assert not slow["throughput_app_over_floor"].met
    noisy = results(cold_start=ColdStart(900.0, 450.0, 120.0, 6.0, ("socket.connect ('10.0.0.1', 443)",)))
    assert not by_name(evaluate_targets(noisy))["import_network_events"].met
    assert not by_name(evaluate_targets(noisy))["import_function_app_over_sdks"].met


def test_a_target_the_run_did_not_measure_is_not_met() -> None:
    targets = by_name(evaluate_targets(results(ingest={"app": Latency(10.0, 20.0, 4)}, cold_start=None)))
    assert targets["ingest_p50_app_over_floor"].measured is None
    assert not targets["ingest_p50_app_over_floor"].met
    assert not targets["import_network_events"].met


def test_token_allowance_is_one_per_audience_per_thousand_invocations() -> None:
    assert token_allowance(10) == 1
    assert token_allowance(1999) == 1
    assert token_allowance(3000) == 3
    too_many = {"app": {"https://vault.azure.net": 2}}
    assert not by_name(evaluate_targets(results(tokens=too_many)))["token_requests_per_audience"].met


def test_keyvault_requests_are_judged_per_source_and_cache_ttl() -> None:
    busy = results(keyvault={"app": {"getSecret": 8}}, keyvault_sources=2, keyvault_ttl_windows=2)
    assert by_name(evaluate_targets(busy))["keyvault_requests_per_source_per_ttl"].measured == 2


def test_json_document_has_the_agreed_shape() -> None:
    document = to_json(results(), evaluate_targets(results()))
    assert set(document["ingest_ms"]) == {"app", "app_host", "floor", "naive"}
    assert set(document["ingest_ms"]["app"]) >= {"p50", "p99"}
    assert set(document["list_ms"]) == {"app", "floor"}
    assert document["token_requests"]["invocations"] == 1301
    assert document["token_requests"]["app"] == {"https://vault.azure.net": 1, "https://storage.azure.com": 1}
    assert document["keyvault_requests"]["app"] == 3
    assert document["keyvault_requests"]["naive"] == 101
    assert document["throughput_rps"]["concurrency"] == 32
    assert document["throughput_rps"]["floor"] == 350.0
    assert set(document["cold_start_ms"]) >= {
        "import_function_app",
        "import_sdks",
        "first_invocation",
        "warm_invocation",
    }
    assert document["log_bytes_per_delivery"] == 4321.0
    for target in document["targets"].values():
        assert set(target) == {"target", "measured", "met"}
        assert isinstance(target["met"], bool)


def test_table_names_every_target_with_its_verdict() -> None:
    table = render_table(results(), evaluate_targets(results(throughput_rps={"app": 1.0, "floor": 350.0})))
    assert "MISSED" in table
    assert table.count("met ") >= 1
    assert "app (in-process)" in table


@pytest.mark.parametrize(
    ("host_json", "level"),
    [
        ({}, logging.INFO),
        ({"logging": {"logLevel": {"default": "Warning"}}}, logging.WARNING),
        ({"logging": {"logLevel": {"default": "Warning", "Function": "Error"}}}, logging.ERROR),
        ({"logging": {"logLevel": {"default": "Debug"}}}, logging.INFO),  # the worker itself sends INFO and up
    ],
)
def test_forwarded_log_level_follows_host_json(host_json: dict[str, Any], level: int) -> None:
    assert forwarded_level(host_json) == level


async def test_drive_makes_every_call_with_at_most_the_given_senders() -> None:
    in_flight, most = 0, 0

    async def call() -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1

    samples = await drive(call, 10, 3)
    assert len(samples) == 10
    assert most == 3
    assert all(s > 0 for s in samples)
