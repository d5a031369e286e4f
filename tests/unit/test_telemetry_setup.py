"""Where spans go, and what the delivery span (webhooks/ingest.py, over frame/telemetry.py) records,
without a stack (tests/integration/test_telemetry.py runs real deliveries). Nothing here installs a
global tracer provider or turns on the Azure SDKs' tracing: both are process-wide, and the process
runs every other test too."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from frame import telemetry
from frame.problems import INVALID_SIGNATURE, Problem
from webhooks.ingest import CREATED, delivery_span

ROOT = Path(__file__).resolve().parents[2]  # the repository root


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """The delivery span, made by a provider of the test's own; `configure` is taken as done."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(telemetry, "_tracer", provider.get_tracer("test"))
    monkeypatch.setattr(telemetry, "_configured", True)
    yield exporter
    provider.shutdown()


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    return span


def test_a_delivery_span_carries_the_delivery_and_nothing_else(recorded: InMemorySpanExporter) -> None:
    with delivery_span("github", "72d3162e", "push") as span:
        span.set_attribute(CREATED, True)
    finished = only_span(recorded)
    assert finished.name == "accept delivery"
    assert finished.kind is SpanKind.INTERNAL
    assert dict(finished.attributes or {}) == {
        "webhook.source": "github",
        "webhook.delivery_id": "72d3162e",
        "webhook.event_type": "push",
        "webhook.created": True,
    }
    assert finished.status.status_code is StatusCode.UNSET


def test_a_client_error_is_named_but_is_not_a_failure(recorded: InMemorySpanExporter) -> None:
    with pytest.raises(Problem), delivery_span("github", "1", "push"):
        raise INVALID_SIGNATURE()
    finished = only_span(recorded)
    assert (finished.attributes or {})["webhook.problem"] == "invalid-signature"
    assert finished.status.status_code is StatusCode.UNSET
    assert not finished.events  # no exception event: messages and tracebacks stay out of telemetry


def test_a_dependency_failure_is_a_failed_span_with_only_its_type(recorded: InMemorySpanExporter) -> None:
    with pytest.raises(Problem), delivery_span("github", "1", "push"):
        raise Problem(503, "dependency-unavailable", "A dependency is unavailable", "cosmos answered 500")
    finished = only_span(recorded)
    assert (finished.status.status_code, finished.status.description) == (StatusCode.ERROR, "dependency-unavailable")
    assert "cosmos answered 500" not in finished.to_json()


@pytest.mark.parametrize("error", [RuntimeError("a bug with sha256=abc in its message"), asyncio.CancelledError()])
def test_a_bug_or_the_deadline_is_a_failed_span_without_its_message(
    recorded: InMemorySpanExporter, error: BaseException
) -> None:
    with pytest.raises(type(error)), delivery_span("github", "1", "push"):
        raise error
    finished = only_span(recorded)
    assert finished.status.status_code is StatusCode.ERROR
    assert (finished.attributes or {})["error.type"] == type(error).__qualname__
    assert not finished.events
    assert "sha256=abc" not in finished.to_json()


@pytest.mark.parametrize(
    ("value", "names"),
    [("", []), ("none", []), (" console , none", ["console"]), ("Console,otlp", ["console", "otlp"])],
)
def test_otel_traces_exporter_names_exporters_and_none_means_none(value: str, names: list[str]) -> None:
    assert telemetry.exporter_names({"OTEL_TRACES_EXPORTER": value}) == names


def test_exporters_are_found_by_their_standard_names(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="frame.telemetry"):
        exporters = telemetry.named_exporters({"OTEL_TRACES_EXPORTER": "console,no-such-exporter"})
    assert [type(e) for e in exporters] == [ConsoleSpanExporter]  # opentelemetry-sdk registers `console`
    assert "no-such-exporter" in caplog.text  # named, skipped, and the app carries on


def test_traces_file_gets_one_json_line_per_span_as_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "traces.jsonl"  # the folder is made
    provider = TracerProvider()
    for processor in telemetry.span_processors({"TRACES_FILE": str(path)}):
        provider.add_span_processor(processor)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("outer"), tracer.start_as_current_span("inner", attributes={"k": "v"}):
        pass
    lines = path.read_text().splitlines()  # before any flush or shutdown
    spans = [json.loads(line) for line in lines]
    assert [s["name"] for s in spans] == ["inner", "outer"]
    assert spans[0]["attributes"] == {"k": "v"}
    assert spans[0]["parent_id"] == spans[1]["context"]["span_id"]
    provider.shutdown()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, name: str) -> Any:
        return lambda *args, **kwargs: self.calls.append((name, args))


@pytest.fixture
def branches(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """The process-wide steps of `_configure`, recorded instead of taken."""
    recorder = Recorder()
    monkeypatch.setattr(telemetry, "_configure_azure_monitor", recorder("azure_monitor"))
    monkeypatch.setattr(telemetry, "_trace_azure_sdk", recorder("azure_sdk"))
    monkeypatch.setattr(trace, "set_tracer_provider", recorder("set_tracer_provider"))
    return recorder


def test_with_nowhere_to_send_spans_nothing_is_installed(branches: Recorder) -> None:
    telemetry._configure({})
    assert branches.calls == []


AZURE = {"APPLICATIONINSIGHTS_CONNECTION_STRING": " InstrumentationKey=x ", "PYTHON_ENABLE_OPENTELEMETRY": "true"}


def test_in_azure_the_distro_is_configured_with_the_environment_exporters_too(
    branches: Recorder, tmp_path: Path
) -> None:
    telemetry._configure({**AZURE, "TRACES_FILE": str(tmp_path / "t")})
    (name, (connection_string, processors)), sdk = branches.calls
    assert (name, connection_string, sdk[0]) == ("azure_monitor", "InstrumentationKey=x", "azure_sdk")
    assert [type(p) for p in processors] == [SimpleSpanProcessor]


def test_without_the_workers_opentelemetry_mode_the_app_leaves_application_insights_to_the_host(
    branches: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """The host would forward every log of the app's as well: each would arrive twice."""
    with caplog.at_level(logging.WARNING, logger="frame.telemetry"):
        telemetry._configure({**AZURE, "PYTHON_ENABLE_OPENTELEMETRY": "false"})
    assert branches.calls == []
    assert "PYTHON_ENABLE_OPENTELEMETRY is not true" in caplog.text


def test_locally_the_sdk_exports_where_the_environment_says(branches: Recorder) -> None:
    telemetry._configure({"OTEL_TRACES_EXPORTER": "console"})
    (name, (provider,)), sdk = branches.calls
    assert (name, type(provider), sdk[0]) == ("set_tracer_provider", TracerProvider, "azure_sdk")


def test_a_provider_installed_before_the_app_is_kept(
    branches: Recorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The worker configures the distro itself under PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY."""
    installed = TracerProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: installed)
    path = tmp_path / "traces.jsonl"
    telemetry._configure({**AZURE, "TRACES_FILE": str(path)})
    assert branches.calls == [("azure_sdk", ())]  # no second distro, no second provider
    with installed.get_tracer("test").start_as_current_span("kept"):
        pass
    assert json.loads(path.read_text())["name"] == "kept"
    installed.shutdown()


def test_importing_the_app_loads_neither_the_sdk_nor_the_distro() -> None:
    """Indexing stays cheap: both load on the first invocation, when telemetry is configured."""
    heavy = "('opentelemetry.sdk', 'azure.monitor')"
    probe = f"import sys, function_app; print([m for m in sys.modules if m.startswith({heavy})])"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
