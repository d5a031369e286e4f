"""Traces: where every span goes, decided once per process, and the span of one unit of a feature's work.

The spans. The Azure SDKs make one span per client operation (`SecretClient.get_secret`,
`BlobClient.upload_blob`, `ContainerProxy.create_item`) with one HTTP span per request under it,
token requests included (azure-core's OpenTelemetry plugin, which redacts query values). A feature
adds one span per unit of its work with `operation_span` (the webhook feature: one per delivery, with
its source, id and event type as attributes, webhooks/ingest.py): what Application Insights shows as
custom dimensions. It needs a span of its own: in a worker, the current span is the host's invocation
span, known only by its id (a non-recording span), so attributes set on it go nowhere. Only validated
values go into attributes: never a secret, a signature or a body.

Where they go (`configure`):
- a tracer provider is already installed (the worker configured the Azure Monitor distro itself under
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY, or a test did): it is kept, and gets the exporters below;
- else APPLICATIONINSIGHTS_CONNECTION_STRING is set and the worker's PYTHON_ENABLE_OPENTELEMETRY is on
  (Azure): the Azure Monitor distro, authenticated as the app's managed identity (Application Insights
  has local auth off: the instrumentation key in the connection string is only an address). It exports
  the app's logs too, with `extra` fields as custom dimensions: PYTHON_ENABLE_OPENTELEMETRY makes the
  worker continue the host's trace in each invocation and stop the host forwarding the app's logs, so
  without it every log would arrive twice and the spans would not join the host's requests;
- else (the local stack, which drops the connection string): the OpenTelemetry SDK, if there is
  anything to export to, and otherwise nothing at all.
Either way OTEL_TRACES_EXPORTER adds exporters by their standard names (`console`, or any installed
exporter package's; unset or `none`: none, rather than the SDK's `otlp`, which needs a collector and a
package the app does not ship), and TRACES_FILE appends each span to a file as one JSON line.

When: when the process builds its clients (frame/clients.py), before the first SDK call, or at its
first operation span, not at import. Importing and configuring the distro takes about 300 ms and starts
about ten threads, and left to its defaults it probes the VM metadata endpoint; indexing must stay
fast and touch no network.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from frame.problems import Problem

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)

CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
TRACES_FILE = "TRACES_FILE"
# Read by the Python worker: it continues the host's trace in each invocation and tells the host
# (capability WorkerOpenTelemetryEnabled) that the app exports its own logs. Its values: is_true_like()
# in azure-functions-runtime (utils/app_setting_manager.py).
WORKER_TELEMETRY = "PYTHON_ENABLE_OPENTELEMETRY"
TRUE_LIKE = frozenset({"1", "true", "t", "yes", "y"})
# Where OpenTelemetry packages register span exporters under the names OTEL_TRACES_EXPORTER uses.
EXPORTER_ENTRY_POINTS = "opentelemetry_traces_exporter"
RESOURCE_DETECTORS = "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS"
# The app's HTTP goes through the Azure SDKs only (the distro's `azure_sdk` tracing); the distro would
# otherwise also instrument requests and urllib3, which its own exporter and credential use.
UNUSED_INSTRUMENTATIONS = ("django", "fastapi", "flask", "httpx", "psycopg2", "requests", "urllib", "urllib3")

ERROR_TYPE = "error.type"  # OpenTelemetry semantic conventions: the class of a failure

_tracer = trace.get_tracer("inbox")
_configure_once = threading.Lock()
_configured = False


def configure() -> None:
    """Decide where spans go, once per process; telemetry that cannot be set up never fails a request."""
    global _configured  # noqa: PLW0603 - once per process is the point
    if _configured:
        return
    with _configure_once:
        if _configured:
            return
        _configured = True
        try:
            _configure(os.environ)
        except Exception:
            log.exception("telemetry is off: it could not be configured")


def _configure(environ: Mapping[str, str]) -> None:
    installed = trace.get_tracer_provider()
    connection_string = environ.get(CONNECTION_STRING, "").strip()
    if connection_string and not worker_telemetry(environ):
        log.warning(
            "%s is set but %s is not true: the host forwards the app's logs, and the app exports none of its own",
            CONNECTION_STRING,
            WORKER_TELEMETRY,
        )
        connection_string = ""
    wanted = exporter_names(environ) or environ.get(TRACES_FILE, "").strip()
    if isinstance(installed, trace.ProxyTracerProvider) and not (connection_string or wanted):
        return  # nowhere to send spans: no SDK is loaded, and the Azure SDKs make none
    # Imported here: none of this is needed, or paid for, before the first invocation.
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415

    processors = span_processors(environ)
    if isinstance(installed, TracerProvider):
        for processor in processors:
            installed.add_span_processor(processor)
    elif connection_string:
        _configure_azure_monitor(connection_string, processors)
    else:
        provider = TracerProvider(resource=Resource.create())
        for processor in processors:
            provider.add_span_processor(processor)
        trace.set_tracer_provider(provider)
    _trace_azure_sdk()


def worker_telemetry(environ: Mapping[str, str]) -> bool:
    return environ.get(WORKER_TELEMETRY, "").strip().lower() in TRUE_LIKE


def _configure_azure_monitor(connection_string: str, processors: list[SpanProcessor]) -> None:
    from azure.monitor.opentelemetry import configure_azure_monitor  # noqa: PLC0415

    from frame.identity import get_telemetry_credential  # noqa: PLC0415 - identity imports the dependency layer

    # As the Python worker does when it configures the distro itself (azure-functions-runtime, otel.py):
    # the Functions resource detector, instead of the distro's default VM one, which probes the VM metadata
    # endpoint. An operator's own choice of detectors stays.
    os.environ.setdefault(RESOURCE_DETECTORS, "azure_functions")
    configure_azure_monitor(
        connection_string=connection_string,
        credential=get_telemetry_credential(),
        span_processors=processors,
        instrumentation_options={name: {"enabled": False} for name in UNUSED_INSTRUMENTATIONS},
    )


def _trace_azure_sdk() -> None:
    """The Azure SDKs' spans through OpenTelemetry, as the distro sets it up (azure-core-tracing-opentelemetry)."""
    from azure.core.settings import settings  # noqa: PLC0415
    from azure.core.tracing.ext.opentelemetry_span import OpenTelemetrySpan  # noqa: PLC0415

    settings.tracing_implementation = OpenTelemetrySpan


def span_processors(environ: Mapping[str, str]) -> list[SpanProcessor]:
    """The exporters the environment asks for: OTEL_TRACES_EXPORTER's, batched, and TRACES_FILE's."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor  # noqa: PLC0415

    processors: list[SpanProcessor] = [BatchSpanProcessor(e) for e in named_exporters(environ)]
    path = environ.get(TRACES_FILE, "").strip()
    if path:
        # Written as each span ends, so the file is complete when the response leaves.
        processors.append(SimpleSpanProcessor(json_lines_exporter(Path(path))))
    return processors


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    names = (n.strip().lower() for n in environ.get(OTEL_TRACES_EXPORTER, "").split(","))
    return [n for n in names if n and n != "none"]


def named_exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    exporters: list[SpanExporter] = []
    for name in exporter_names(environ):
        found = entry_points(group=EXPORTER_ENTRY_POINTS, name=name)
        if not found:
            log.warning("%s names %r, but no installed package provides that exporter", OTEL_TRACES_EXPORTER, name)
            continue
        exporters.append(next(iter(found)).load()())
    return exporters


def json_lines_exporter(path: Path) -> SpanExporter:
    """Each span as one line of the SDK's own JSON, appended to `path` (opened once, for the process)."""
    from opentelemetry.sdk.trace import ReadableSpan  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter  # noqa: PLC0415

    def one_line(span: ReadableSpan) -> str:
        return str(span.to_json(indent=None)) + "\n"

    path.parent.mkdir(parents=True, exist_ok=True)
    return ConsoleSpanExporter(out=path.open("a", encoding="utf-8"), formatter=one_line)


@contextmanager
def operation_span(name: str, attributes: Mapping[str, str], *, problem_attribute: str) -> Iterator[Span]:
    """One unit of a feature's work. A 4xx answer is not an error of the app's; a 5xx or a bug is.

    A `Problem` raised inside records its slug as `problem_attribute`.
    """
    configure()
    # No exception events: their messages and tracebacks are not for telemetry.
    with _tracer.start_as_current_span(
        name,
        kind=SpanKind.INTERNAL,
        attributes=dict(attributes),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Problem as problem:
            span.set_attribute(problem_attribute, problem.slug)
            if problem.status >= 500:
                span.set_status(Status(StatusCode.ERROR, problem.slug))
            raise
        except (Exception, asyncio.CancelledError) as error:  # a bug, or the deadline cutting the call short
            span.set_attribute(ERROR_TYPE, type(error).__qualname__)
            span.set_status(Status(StatusCode.ERROR))
            raise
