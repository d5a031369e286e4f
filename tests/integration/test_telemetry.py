"""Traces of real deliveries on the local stack: a span per dependency call under the delivery's span,
the delivery's source, id and type on it, the host's trace continued, and no secret in anything exported.

The app runs in a child process (`python -m tests.integration.test_telemetry MODE`), as the worker runs
it: OpenTelemetry's tracer provider and the Azure SDKs' tracing switch are process-wide, so set up here
they would trace every later test. The child calls the functions in-process, each inside the host's
trace context as the worker attaches it (PYTHON_ENABLE_OPENTELEMETRY), and reports back as JSON:
- `memory`: the spans, from an in-memory exporter installed before the app's first invocation;
- `azure-monitor`: nothing; APPLICATIONINSIGHTS_CONNECTION_STRING points the Azure Monitor distro at a
  fake ingestion endpoint here, which records what Application Insights would receive, and with which
  token.
A third test goes through the local function host (azure-functions-runtime on 3.13) to TRACES_FILE.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import os
import re
import secrets
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from devstack.pytest_plugin import CERTS, StartStack
from devstack.testing import StackInfo

from tests.integration.conftest import inbox_for
from tests.integration.inbox_api import Inbox, new_id
from webhooks.signing import sign

ROOT = Path(__file__).resolve().parents[2]  # the repository root

SOURCE = "github"
CHILD_TIMEOUT_SECONDS = 120
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")
# Inherited settings that would decide where the child's telemetry goes: each test sets its own.
TELEMETRY_SETTINGS = re.compile(r"^(APPLICATIONINSIGHTS_|OTEL_|PYTHON_APPLICATIONINSIGHTS_|TRACES_FILE$)")
KEY_VAULT, BLOB, COSMOS, IDENTITY = "keyvault", "blob", "cosmos", "identity"
OPERATIONS = {"SecretClient.": KEY_VAULT, "BlobClient.": BLOB, "ContainerProxy.": COSMOS}
Spans = list[dict[str, Any]]  # as the SDK writes them: ReadableSpan.to_json()


@dataclass(frozen=True)
class Delivery:
    event_id: str
    body: bytes
    signature: str
    trace_id: str = field(default_factory=lambda: secrets.token_hex(16))
    host_span_id: str = field(default_factory=lambda: secrets.token_hex(8))

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.host_span_id}-01"

    def spec(self) -> dict[str, str]:
        return {
            "id": self.event_id,
            "body": self.body.decode(),
            "signature": self.signature,
            "traceparent": self.traceparent,
        }


@dataclass(frozen=True)
class Leaks:
    """What must never appear in telemetry."""

    secret: str
    signatures: tuple[str, ...]
    marker: str
    identity_header: str

    def found_in(self, text: str) -> list[str]:
        found = [name for name, value in self._values() if value in text]
        return found + (["a JWT"] if JWT.search(text) else [])

    def _values(self) -> Iterator[tuple[str, str]]:
        yield "the signing secret", self.secret
        for signature in self.signatures:
            yield "a signature", signature
            yield "a signature's hex", signature.removeprefix("sha256=")
        yield "the payload marker", self.marker
        yield "the identity header", self.identity_header


@dataclass(frozen=True)
class Deliveries:
    cold: Delivery  # the process's first invocation: telemetry is set up, the secret is loaded
    warm: Delivery
    forged: Delivery
    leaks: Leaks

    def all(self) -> tuple[Delivery, ...]:
        return (self.cold, self.warm, self.forged)


def deliveries(inbox: Inbox) -> Deliveries:
    marker = f"payload-marker-{secrets.token_hex(8)}"
    body = json.dumps({"text": marker}).encode()
    secret = inbox.secret(SOURCE)
    signed = sign(secret, body)
    forged = sign("not the secret", body)
    leaks = Leaks(secret, (signed, forged), marker, inbox.stack.settings["IDENTITY_HEADER"])
    return Deliveries(
        Delivery(new_id(), body, signed), Delivery(new_id(), body, signed), Delivery(new_id(), body, forged), leaks
    )


def child_environment(stack: StackInfo, extra: Mapping[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not TELEMETRY_SETTINGS.match(k)}
    return {**inherited, **stack.settings, **extra}


def run_child(mode: str, environment: Mapping[str, str], batch: Deliveries) -> dict[str, Any]:
    spec = json.dumps({"deliveries": [d.spec() for d in batch.all()]})
    completed = subprocess.run(
        [sys.executable, "-m", "tests.integration.test_telemetry", mode],
        input=spec,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(environment),
        timeout=CHILD_TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["statuses"] == [202, 202, 401]
    return result


# --- reading spans (the SDK's JSON: ReadableSpan.to_json()) ----------------------------------------------


def dependency_of(span: Mapping[str, Any], identity_endpoint: str) -> str | None:
    name = str(span["name"])
    for prefix, dependency in OPERATIONS.items():
        if name.startswith(prefix):
            return dependency
    host = str(span["attributes"].get("server.address", ""))
    port = span["attributes"].get("server.port")
    if host.endswith(".vault.azure.net"):
        return KEY_VAULT
    if host.endswith(".blob.core.windows.net"):
        return BLOB
    if host.endswith(".documents.azure.com"):
        return COSMOS
    if urlsplit(identity_endpoint).netloc == f"{host}:{port}":
        return IDENTITY
    return None


def descendants(spans: Spans, root: Mapping[str, Any]) -> Spans:
    children: dict[str, Spans] = {}
    for span in spans:
        children.setdefault(str(span["parent_id"]), []).append(span)
    found, queue = [], list(children.get(root["context"]["span_id"], []))
    while queue:
        span = queue.pop()
        found.append(span)
        queue += children.get(span["context"]["span_id"], [])
    return found


def delivery_spans(spans: Spans, delivery: Delivery) -> Spans:
    return [
        s
        for s in spans
        if s["name"] == "accept delivery" and s["attributes"]["webhook.delivery_id"] == delivery.event_id
    ]


def operations(tree: Spans) -> dict[str, int]:
    """Client operations (not HTTP requests) per dependency."""
    counts: dict[str, int] = {}
    for span in tree:
        for prefix, dependency in OPERATIONS.items():
            if str(span["name"]).startswith(prefix):
                counts[dependency] = counts.get(dependency, 0) + 1
    return counts


def assert_delivery_tree(spans: Spans, delivery: Delivery, identity_endpoint: str) -> Spans:
    """The delivery's span is the host span's child, and its tree holds the dependency calls it made."""
    (root,) = delivery_spans(spans, delivery)
    assert root["context"]["trace_id"] == f"0x{delivery.trace_id}"
    assert root["parent_id"] == f"0x{delivery.host_span_id}"
    assert root["kind"] == "SpanKind.INTERNAL"
    assert {k: root["attributes"][k] for k in ("webhook.source", "webhook.event_type")} == {
        "webhook.source": SOURCE,
        "webhook.event_type": "push",
    }
    tree = descendants(spans, root)
    in_trace = [s for s in spans if s["context"]["trace_id"] == root["context"]["trace_id"] and s is not root]
    assert {s["context"]["span_id"] for s in in_trace} == {s["context"]["span_id"] for s in tree}
    assert all(dependency_of(s, identity_endpoint) for s in tree), [s["name"] for s in tree]
    by_id = {s["context"]["span_id"]: s for s in tree}
    for span in tree:
        # Blob and Cosmos requests sit under the client operation that made them. (Key Vault's paged
        # version listing sends its requests while the pager is read, after its operation span closed.)
        if dependency_of(span, identity_endpoint) in (BLOB, COSMOS) and span["kind"] == "SpanKind.CLIENT":
            parent = by_id[span["parent_id"]]
            assert dependency_of(parent, identity_endpoint) == dependency_of(span, identity_endpoint)
            assert str(parent["name"]).startswith(("BlobClient.", "ContainerProxy."))
    return [root, *tree]


def test_each_dependency_call_is_a_span_under_the_delivery_and_nothing_secret_is_recorded(inbox: Inbox) -> None:
    batch = deliveries(inbox)
    result = run_child("memory", child_environment(inbox.stack, {}), batch)
    spans: Spans = result["spans"]
    identity_endpoint = inbox.stack.settings["IDENTITY_ENDPOINT"]

    cold = assert_delivery_tree(spans, batch.cold, identity_endpoint)
    assert cold[0]["attributes"]["webhook.created"] is True
    assert cold[0]["status"]["status_code"] == "UNSET"
    cold_operations = operations(cold)
    assert cold_operations[KEY_VAULT] >= 1  # list the versions, get the latest
    assert (cold_operations[BLOB], cold_operations[COSMOS]) == (1, 1)
    assert {dependency_of(s, identity_endpoint) for s in cold} >= {KEY_VAULT, BLOB, COSMOS, IDENTITY}

    warm = assert_delivery_tree(spans, batch.warm, identity_endpoint)
    assert operations(warm) == {BLOB: 1, COSMOS: 1}  # the secret is cached: exactly the two writes
    assert [s["name"] for s in warm if s["kind"] == "SpanKind.CLIENT"].count("PUT") == 1

    forged = assert_delivery_tree(spans, batch.forged, identity_endpoint)
    assert forged[0]["attributes"]["webhook.problem"] == "invalid-signature"
    assert forged[0]["status"]["status_code"] == "UNSET"  # a 401 is the sender's mistake, not a failure
    assert BLOB not in operations(forged)
    assert COSMOS not in operations(forged)

    assert not batch.leaks.found_in(json.dumps(spans))


# --- what Application Insights would receive --------------------------------------------------------------


@dataclass
class Ingestion:
    """A stand-in for Application Insights' ingestion and live-metrics endpoints, over the local CA's TLS."""

    requests: list[tuple[str, Mapping[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    def connection_string(self) -> str:
        endpoint = f"https://127.0.0.1:{self.port}/"
        return f"InstrumentationKey={new_id()};IngestionEndpoint={endpoint};LiveEndpoint={endpoint}"

    def tracks(self) -> list[tuple[Mapping[str, str], list[dict[str, Any]]]]:
        """Each upload of telemetry items: its headers and its envelopes."""
        return [(h, json.loads(b)) for path, h, b in self.requests if path.startswith("/v2.1/track")]


@pytest.fixture
def ingestion() -> Iterator[Ingestion]:
    recorded = Ingestion()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            recorded.requests.append((self.path, dict(self.headers), body))
            answer = b"{}"
            if self.path.startswith("/v2.1/track"):
                count = len(json.loads(body))
                answer = json.dumps({"itemsReceived": count, "itemsAccepted": count, "errors": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(CERTS.server_cert, CERTS.server_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    recorded.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recorded
    server.shutdown()
    server.server_close()


def claims(authorization: str) -> dict[str, Any]:
    token = authorization.removeprefix("Bearer ")
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def test_application_insights_gets_the_spans_and_logs_as_the_app_identity(
    inbox: Inbox, ingestion: Ingestion, tmp_path: Path
) -> None:
    batch = deliveries(inbox)
    environment = child_environment(
        inbox.stack,
        {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": ingestion.connection_string(),
            "PYTHON_ENABLE_OPENTELEMETRY": "true",  # as in Azure (the child attaches the host's trace itself)
            "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",  # its endpoints are Azure's own
            # Follow the host's decision (its traceparent says sampled). The distro's default samples at most
            # 5 traces/s, and probabilistically right after start-up.
            "OTEL_TRACES_SAMPLER": "parentbased_always_on",
            "TMPDIR": str(tmp_path),  # the exporter's retry storage
        },
    )
    run_child("azure-monitor", environment, batch)

    tracks = ingestion.tracks()
    assert tracks, "the exporter sent nothing"
    for headers, _ in tracks:  # local auth is off: every upload carries a token for the app's identity
        token = claims(headers["Authorization"])
        assert token["aud"].rstrip("/") == "https://monitor.azure.com"
        assert (token["appid"], token["oid"]) == (inbox.stack.client_id("app"), inbox.stack.object_id("app"))
    envelopes = [e for _, batch_ in tracks for e in batch_]
    (delivery,) = [
        e
        for e in envelopes
        if e["data"]["baseType"] == "RemoteDependencyData"
        and e["data"]["baseData"].get("properties", {}).get("webhook.delivery_id") == batch.cold.event_id
    ]
    assert delivery["data"]["baseData"]["name"] == "accept delivery"
    assert delivery["data"]["baseData"]["properties"]["webhook.source"] == SOURCE
    assert delivery["data"]["baseData"]["properties"]["webhook.event_type"] == "push"
    assert delivery["tags"]["ai.operation.id"] == batch.cold.trace_id  # the host's request's operation
    in_operation = [e for e in envelopes if e["tags"].get("ai.operation.id") == batch.cold.trace_id]
    targets = " ".join(str(e["data"]["baseData"].get("target", "")) for e in in_operation)
    for host in (".vault.azure.net", ".blob.core.windows.net", ".documents.azure.com"):
        assert host in targets
    # The app's own log line, correlated with the delivery (its `extra` fields would be custom dimensions).
    stored = f"delivery {SOURCE}/{batch.cold.event_id} (push) stored"
    assert [e for e in in_operation if e["data"]["baseData"].get("message") == stored]

    assert not batch.leaks.found_in("\n".join(body.decode(errors="replace") for _, _, body in ingestion.requests))


# --- through the local function host --------------------------------------------------------------------


def test_the_host_trace_continues_into_the_app_and_lands_in_traces_file(
    start_stack: StartStack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    traces = tmp_path_factory.mktemp("traces") / "traces.jsonl"
    stack = start_stack(
        *("--env", f"WEBHOOK_SOURCES={SOURCE}"),
        *("--setting", "PYTHON_ENABLE_OPENTELEMETRY=true"),  # as in Azure: the worker continues the host's trace
        *("--setting", f"TRACES_FILE={traces}"),
        # The local host marks every trace context it passes on as not sampled, so parent-based sampling
        # would record nothing; Azure's host marks the requests it samples.
        *("--setting", "OTEL_TRACES_SAMPLER=always_on"),
    )
    inbox = inbox_for(stack)
    batch = deliveries(inbox)
    for delivery in batch.all():
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery.event_id,
            "X-Hub-Signature-256": delivery.signature,
            "traceparent": delivery.traceparent,
        }
        response = inbox.http.post(inbox.url(f"webhooks/{SOURCE}"), data=delivery.body, headers=headers, timeout=60)
        assert response.status_code == (401 if delivery is batch.forged else 202), response.text

    text = traces.read_text()  # complete: each span is written as it ends, before the answer leaves
    spans = [json.loads(line) for line in text.splitlines()]
    roots = {}
    for delivery in batch.all():
        (roots[delivery],) = delivery_spans(spans, delivery)
        # On 3.13 the local host invokes through azure-functions-runtime, the worker's own code, which
        # attaches the host's trace context; before 3.13 it calls the functions itself, and does not.
        if sys.version_info >= (3, 13):
            assert roots[delivery]["context"]["trace_id"] == f"0x{delivery.trace_id}"  # the sender's trace
            assert roots[delivery]["parent_id"] not in (None, f"0x{delivery.host_span_id}")  # the host's span
    assert set(operations(descendants(spans, roots[batch.cold]))) == {KEY_VAULT, BLOB, COSMOS}
    assert operations(descendants(spans, roots[batch.warm])) == {BLOB: 1, COSMOS: 1}
    assert roots[batch.forged]["attributes"]["webhook.problem"] == "invalid-signature"
    assert not batch.leaks.found_in(text)


# --- the child ------------------------------------------------------------------------------------------


def _invoke_all(spec: Mapping[str, Any]) -> list[int]:
    """Each delivery through the real `ingest_webhook`, inside the host's trace as the worker attaches it."""
    import azure.functions as func  # noqa: PLC0415 - the child imports the app's stack only now
    from opentelemetry import context  # noqa: PLC0415
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator  # noqa: PLC0415

    from bench.app_inprocess import BASE_URL, index_functions  # noqa: PLC0415

    ingest = index_functions()["ingest_webhook"]

    async def invoke(delivery: Mapping[str, str]) -> int:
        headers = {
            "content-type": "application/json",
            "x-github-event": "push",
            "x-github-delivery": delivery["id"],
            "x-hub-signature-256": delivery["signature"],
        }
        request = func.HttpRequest(
            "POST",
            f"{BASE_URL}/webhooks/{SOURCE}",
            headers=headers,
            route_params={"source": SOURCE},
            body=delivery["body"].encode(),
        )
        attached = context.attach(TraceContextTextMapPropagator().extract({"traceparent": delivery["traceparent"]}))
        try:
            return int((await ingest(request)).status_code)
        finally:
            context.detach(attached)

    async def invoke_in_order() -> list[int]:
        return [await invoke(delivery) for delivery in spec["deliveries"]]

    return asyncio.run(invoke_in_order())


def _child(mode: str) -> dict[str, Any]:
    spec = json.loads(sys.stdin.read())
    logging.getLogger().setLevel(logging.INFO)  # the worker's root level
    if mode == "memory":
        from opentelemetry import trace  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: PLC0415

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        statuses = _invoke_all(spec)
        return {"statuses": statuses, "spans": [json.loads(s.to_json()) for s in exporter.get_finished_spans()]}
    from opentelemetry import _logs, trace  # noqa: PLC0415

    statuses = _invoke_all(spec)
    # The SDK's providers, which the distro installed: send what is still batched before exiting.
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    _logs.get_logger_provider().force_flush()  # type: ignore[attr-defined]
    return {"statuses": statuses}


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1])))
