"""Fuzz the HTTP API on the local function host from openapi.yaml, with Schemathesis.

Each documented operation gets Schemathesis's coverage cases (boundary, missing and malformed values,
each once) and then Hypothesis-driven positive and negative cases. Every answer must be documented:
its status code, content type, body schema and headers. No answer may be a 5xx, and a request that
violates the document must be rejected. Hypothesis also chooses, per case, how the request carries a
key and whether it reaches the app's own logic rather than the 404 of an unknown source:

- the source is usually `fuzz` (tests/conftest.py), the one source only this module writes to;
- ids usually name events stored at the start, so reads reach their 200 answers too;
- some deliveries carry a valid signature, so the ingest path runs to the end and stores them;
- a key in the header or the `code` parameter, the master key, a wrong key, or none: too weak a key
  must get the host's empty 401, and a sufficient one must reach the app.

Afterwards, the archive and the index of `fuzz` must hold exactly the deliveries that were answered
200 or 202: nothing that was rejected left a trace.

Budget: CASES_PER_OPERATION below, a few thousand cases in about a minute; `--deep` runs ten times as
many. Hypothesis derandomizes in CI (its "ci" profile), so CI runs the same cases every time and a
local run explores new ones; a failure prints the request as a curl command.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import hypothesis
import pytest
import requests
import schemathesis
from devstack.funchost.keys import KEY_HEADER, KEY_QUERY_PARAMETER
from devstack.testing import StackInfo
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.integration.inbox_api import Inbox, new_id
from webhooks.routes import EVENT_ID
from webhooks.settings import SOURCE_NAME
from webhooks.signing import PREFIX, SIGNATURE_HEADER, sign

ROOT = Path(__file__).resolve().parents[2]  # the repository root

Operation = schemathesis.APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Operation]

DOCUMENT = ROOT / "openapi.yaml"
FUZZ_SOURCE = "fuzz"
DEEP_FACTOR = 10
# Hypothesis examples per operation, after the coverage cases. Operations without inputs run out of
# distinct cases long before their budget.
CASES_PER_OPERATION = {
    "ingest_webhook": 1500,
    "list_events": 1000,
    "get_event": 400,
    "get_event_payload": 400,
    "health": 30,
    "diagnostics": 30,
}
# Deliveries fuzzed by the storage test itself, so it never depends on the other tests having run.
STORAGE_CASES = 300
VALID_SIGNATURE = re.compile(re.escape(PREFIX) + "[0-9a-f]{64}")
NOSNIFF = ("x-content-type-options", "nosniff")

# The checks that hold for this API. Left out, and why:
# - positive_data_acceptance: some valid-looking requests are rightly refused for reasons a schema
#   cannot state (since >= until, a continuation of another query, a signature over another body);
# - unsupported_method, allow_header_conformance: the Functions host answers 404, never 405, to a
#   method a route does not allow (devstack/funchost/routing.py, like Azure);
# - ignored_auth: replaced by the explicit key matrix below, which also tries wrong and weaker keys.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
)


class Key(enum.Enum):
    FUNCTION = "function key in the x-functions-key header"
    FUNCTION_AS_PARAMETER = "function key in the code parameter"
    MASTER = "master key in the x-functions-key header"
    WRONG = "a key the host does not know"
    NONE = "no key"


# The route auth levels each key satisfies (the host's AuthorizationLevel order: a master key is admin).
GRANTS = {
    Key.FUNCTION: {"anonymous", "function"},
    Key.FUNCTION_AS_PARAMETER: {"anonymous", "function"},
    Key.MASTER: {"anonymous", "function", "admin"},
    Key.WRONG: {"anonymous"},
    Key.NONE: {"anonymous"},
}


@dataclass(frozen=True)
class Aim:
    """Hypothesis's choices beside the case itself; sampled lists put the likeliest choice first."""

    key: Key
    at_fuzz_source: bool
    signed: bool
    stored_event: int | None  # index into the events stored at the start, or an id as generated


AIMS = st.builds(
    Aim,
    key=st.sampled_from([Key.FUNCTION, Key.FUNCTION, Key.FUNCTION_AS_PARAMETER, Key.MASTER, Key.WRONG, Key.NONE]),
    at_fuzz_source=st.sampled_from([True, True, True, False]),
    signed=st.booleans(),
    stored_event=st.one_of(st.none(), st.integers(0, 2)),
)


@dataclass
class Ledger:
    """Every delivery to the fuzz source that got an answer: what each accepted id holds, how many were not."""

    accepted: dict[str, set[str]] = field(default_factory=dict)  # id -> the sha256 of every answer for it
    statuses: Counter[int] = field(default_factory=Counter)

    def record(self, response: requests.Response) -> None:
        self.statuses[response.status_code] += 1
        if response.status_code in (200, 202):
            record = response.json()
            self.accepted.setdefault(record["id"], set()).add(record["sha256"])

    @property
    def rejected(self) -> int:
        return sum(count for status, count in self.statuses.items() if status not in (200, 202))


class SigningSession(requests.Session):
    """Sends Schemathesis's requests; signs the next one if asked, and records deliveries to `fuzz`.

    Signing happens on the prepared request, so the signature covers exactly the bytes on the wire,
    whatever serialization Schemathesis chose for the body.
    """

    def __init__(self, secret: str, ingest_path: str) -> None:
        super().__init__()
        self.secret = secret
        self.ingest_path = ingest_path
        self.sign_next = False
        self.ledger = Ledger()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if self.sign_next:
            body = _body_bytes(request.body)
            if request.body is not None:
                request.body = body  # what http.client would have sent for a str body, now fixed
            request.headers[SIGNATURE_HEADER] = sign(self.secret, body)
            self.sign_next = False
        response = super().send(request, **kwargs)
        if request.method == "POST" and urlsplit(request.url or "").path == self.ingest_path:
            self.ledger.record(response)
        return response


def _body_bytes(body: object) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("latin-1")  # http.client's encoding for str bodies
    raise TypeError(f"cannot sign a streamed body ({type(body).__name__})")


@dataclass
class Fuzzer:
    schema: OpenApiSchema
    stack: StackInfo
    session: SigningSession
    stored_ids: list[str]
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)  # (operation, status) -> count

    @property
    def base_url(self) -> str:
        return f"{self.stack.env.host_url}/api"

    def send(self, case: Case, aim: Aim) -> None:
        """Send one case as `aim` says, and check the answer against the document and the key matrix."""
        __tracebackhide__ = True
        self._aim_path(case, aim)
        headers, params = self._key(aim.key)
        self.session.sign_next = aim.signed and self._is_signable_delivery(case)
        try:
            response = case.call_and_validate(
                base_url=self.base_url, session=self.session, headers=headers, params=params
            )
        finally:
            self.session.sign_next = False  # also when the request never left
        answer = (response.status_code, response.content)
        self.answers[case.operation.label, response.status_code] += 1
        # The app's answers (the host's own have no Content-Type) are never sniffed by a browser.
        if "content-type" in response.headers:  # Schemathesis lower-cases the names
            assert response.headers.get(NOSNIFF[0]) == [NOSNIFF[1]], (
                f"an answer without nosniff: {_sent(response, aim)}"
            )
        required = auth_level(case.operation)
        if case.method.upper() != case.operation.method.upper():
            assert answer == (404, b""), f"a method the route does not allow reached it: {_sent(response, aim)}"
        elif required in GRANTS[aim.key]:
            assert answer[0] != 401 or answer[1], f"the host refused a sufficient key: {_sent(response, aim)}"
        else:
            assert answer == (401, b""), f"a key too weak for a {required} route passed: {_sent(response, aim)}"

    def _aim_path(self, case: Case, aim: Aim) -> None:
        # Only values that are valid as generated are replaced: a negative case stays negative.
        path = case.path_parameters or {}
        if aim.at_fuzz_source and _is(SOURCE_NAME, path.get("source")):
            path["source"] = FUZZ_SOURCE
        if aim.stored_event is not None and _is(EVENT_ID, path.get("id")):
            path["id"] = self.stored_ids[aim.stored_event]

    def _is_signable_delivery(self, case: Case) -> bool:
        # A signature that is malformed as generated is the negative part of the case: keep it.
        signature = case.headers.get(SIGNATURE_HEADER) if case.headers else None
        return (
            case.method.upper() == "POST"
            and (case.path_parameters or {}).get("source") == FUZZ_SOURCE
            and (signature is None or _is(VALID_SIGNATURE, signature))
        )

    def _key(self, key: Key) -> tuple[dict[str, str], dict[str, str]]:
        env = self.stack.env
        match key:
            case Key.FUNCTION:
                return {KEY_HEADER: env.function_key}, {}
            case Key.FUNCTION_AS_PARAMETER:
                return {}, {KEY_QUERY_PARAMETER: env.function_key}
            case Key.MASTER:
                return {KEY_HEADER: env.master_key}, {}
            case Key.WRONG:
                return {KEY_HEADER: "not-a-key-of-this-host"}, {}
            case Key.NONE:
                return {}, {}


def _sent(response: schemathesis.Response, aim: Aim) -> str:
    request = response.request
    return (
        f"{aim}\n{request.method} {request.url}\nheaders: {dict(request.headers)!r}"
        f"\n-> {response.status_code} {response.content[:300]!r}"
    )


def routable(case: Case) -> bool:
    """Whether the case's path reaches its operation at all.

    The host keeps `%2F` encoded and routes a decoded newline like any character, as Kestrel does, so
    such values reach the app. Only dot segments do not: the host removes `.` and `..` after decoding,
    as Kestrel does, and the request is routed to another path.
    """
    values = (unquote(str(value)) for value in (case.path_parameters or {}).values())
    return not any(value in (".", "..") for value in values)


def _is(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def auth_level(operation: Operation) -> str:
    """The level a documented operation needs, read back from its security requirement."""
    requirements = operation.definition.raw.get("security", [])
    schemes = {name for requirement in requirements for name in requirement}
    if not schemes:
        return "anonymous"
    return "admin" if schemes <= {"masterKey", "masterKeyQuery"} else "function"


def load_schema() -> OpenApiSchema:
    config = schemathesis.Config.from_dict(
        {
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            # Keys are the key matrix's business, not generated values.
            "generation": {"with-security-parameters": False},
        }
    )
    return schemathesis.openapi.from_path(DOCUMENT, config=config)


def budget(request: pytest.FixtureRequest, cases: int) -> int:
    return cases * DEEP_FACTOR if request.config.getoption("--deep") else cases


@pytest.fixture(scope="module")
def fuzzer(devstack: StackInfo, inbox: Inbox) -> Iterator[Fuzzer]:
    session = SigningSession(inbox.secret(FUZZ_SOURCE), f"/api/webhooks/{FUZZ_SOURCE}")
    stored = [new_id(), new_id(), new_id()]
    # Three shapes of payload for the reads to find: JSON, text, and bytes sent without a type.
    payloads = (b'{"zen": "fuzz"}', "ünïcode text".encode(), b"\x00\xff raw")
    for event_id, body, content_type in zip(stored, payloads, ("application/json", "text/plain", None), strict=True):
        headers = {"X-GitHub-Delivery": event_id, **({"Content-Type": content_type} if content_type else {})}
        session.sign_next = True
        answer = session.post(inbox.url(f"webhooks/{FUZZ_SOURCE}"), data=body, headers=headers, timeout=60)
        assert answer.status_code == 202, answer.text
    with session:
        yield Fuzzer(load_schema(), devstack, session, stored)


def run_cases(fuzzer: Fuzzer, operation: Operation, examples: int) -> None:
    """The coverage cases once each, then `examples` Hypothesis cases, half positive and half negative."""
    __tracebackhide__ = True
    coverage = fuzzer.schema.iter_coverage_cases(
        operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=fuzzer.schema.config.generation_for(operation=operation, phase="coverage"),
    )
    keys = list(Key)
    for number, case in enumerate(filter(routable, coverage)):
        # Coverage cases are fixed, so the key and the aim rotate through them instead of being drawn.
        aim = Aim(
            key=keys[number % len(keys)],
            at_fuzz_source=True,
            signed=number % 2 == 0,  # matters for deliveries only, as stored_event does for reads only
            stored_event=number % 3 if number % 2 else None,
        )
        fuzzer.send(case, aim)

    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        # One inner function serves every operation, so a saved example would replay against the wrong one.
        database=None,
        suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.filter_too_much],
    )
    @hypothesis.given(case=cases, aim=AIMS)
    def fuzz(case: Case, aim: Aim) -> None:
        hypothesis.assume(routable(case))
        fuzzer.send(case, aim)

    fuzz()


@pytest.mark.parametrize("operation_id", sorted(CASES_PER_OPERATION))
def test_every_answer_is_documented(fuzzer: Fuzzer, operation_id: str, request: pytest.FixtureRequest) -> None:
    operation = fuzzer.schema.find_operation_by_id(operation_id)
    run_cases(fuzzer, operation, budget(request, CASES_PER_OPERATION[operation_id]))
    # The aims work: some cases got past the key, the source and the signature to a success.
    statuses = {status for (label, status) in fuzzer.answers if label == operation.label}
    assert any(200 <= status < 300 for status in statuses), statuses


def test_every_documented_operation_has_a_budget() -> None:
    # A new operation in openapi.yaml must get a budget above, or it would never be fuzzed.
    paths = load_schema().raw_schema["paths"].values()
    documented = {
        operation["operationId"] for item in paths for operation in item.values() if "operationId" in operation
    }
    assert documented == set(CASES_PER_OPERATION)


def test_rejected_deliveries_store_nothing(fuzzer: Fuzzer, inbox: Inbox, request: pytest.FixtureRequest) -> None:
    run_cases(fuzzer, fuzzer.schema.find_operation_by_id("ingest_webhook"), budget(request, STORAGE_CASES))
    ledger = fuzzer.session.ledger
    # Both kinds of answer happened, or the comparison below would prove nothing.
    assert ledger.accepted, ledger.statuses
    assert ledger.rejected, ledger.statuses
    # A redelivery answers with the record first stored, never with one for its own body.
    assert all(len(digests) == 1 for digests in ledger.accepted.values())
    expected = {event_id: digest for event_id, (digest,) in ledger.accepted.items()}

    events = inbox.container("events")
    archived = {
        blob.name.removeprefix(f"{FUZZ_SOURCE}/"): hashlib.sha256(events.download_blob(blob.name).readall()).hexdigest()
        for blob in events.list_blobs(name_starts_with=f"{FUZZ_SOURCE}/")
    }
    query = "SELECT c.id, c.sha256 FROM c WHERE c.source = @source"
    parameters: list[dict[str, Any]] = [{"name": "@source", "value": FUZZ_SOURCE}]
    items = list(inbox.index.query_items(query, parameters=parameters, partition_key=FUZZ_SOURCE))
    indexed = {item["id"]: item["sha256"] for item in items}

    assert len(items) == len(indexed)
    assert archived == expected  # the bytes of the first accepted body: a conflict overwrote nothing
    assert indexed == expected
