"""openapi.yaml against the code: the same routes, methods and auth levels, and the same patterns and limits.

The routes come from indexing the app the way the local host does (devstack/funchost/indexing.py: on
Python 3.13 through the real worker's loader), in a fresh interpreter because an app can be indexed
once per process. The patterns and limits come from the constants the code validates with, so a
change on either side fails here until the other follows.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from devstack.funchost.keys import KEY_HEADER, KEY_QUERY_PARAMETER

from frame import dependencies, problems
from webhooks import ingest, routes, secret_cache, signing, store
from webhooks.settings import SOURCE_NAME
from webhooks.store import blob_name, utc_timestamp

ROOT = Path(__file__).resolve().parents[2]  # the repository root
DOCUMENT = ROOT / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# The document's names for the keys each authLevel accepts.
KEY_SCHEMES = {"FUNCTION": {"functionKey", "functionKeyQuery"}, "ADMIN": {"masterKey", "masterKeyQuery"}}

INDEX = """
import json, pathlib
from devstack.funchost.indexing import HttpTrigger, index_app
app = index_app(pathlib.Path("."))
routes = [
    {"name": f.name, "route": t.route, "methods": list(t.methods or ()), "auth": t.auth_level.name}
    for f in app.functions if isinstance(t := f.trigger, HttpTrigger)
]
print(json.dumps({"routePrefix": app.route_prefix, "routes": routes}))
"""


@cache
def indexed_app() -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", INDEX], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    document: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return document


@cache
def document() -> dict[str, Any]:
    raw: dict[str, Any] = schemathesis.openapi.from_path(DOCUMENT).raw_schema
    return raw


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as the document's paths list it, under the server URL
    url_path: str  # as the host serves it
    spec: dict[str, Any]


def operations() -> dict[str, Operation]:
    """The document's operations by operationId."""
    base = document()["servers"][0]["url"].rstrip("/")
    return {
        item[method]["operationId"]: Operation(method.upper(), path, base + path, item[method])
        for path, item in document()["paths"].items()
        for method in METHODS
        if method in item
    }


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow local $refs (#/components/...) until a node without one."""
    while "$ref" in node:
        target: Any = document()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def component(kind: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = document()["components"][kind][name]
    return found


def parameter(operation_id: str, name: str) -> dict[str, Any]:
    operation = operations()[operation_id]
    shared = document()["paths"][operation.path].get("parameters", [])
    (found,) = [p for p in map(resolve, [*shared, *operation.spec.get("parameters", [])]) if p["name"] == name]
    return found


def anchored(pattern: re.Pattern[str]) -> str:
    return f"^{pattern.pattern}$"


def test_document_is_valid_openapi_3_1() -> None:
    assert document()["openapi"] == "3.1.0"
    schemathesis.openapi.from_path(DOCUMENT).validate()


def test_paths_and_methods_are_the_registered_routes() -> None:
    # One method per route, as each operation documents one (and as the table below assumes).
    assert [route["methods"] for route in indexed_app()["routes"] if len(route["methods"]) != 1] == []
    prefix = indexed_app()["routePrefix"]
    registered = {
        route["name"]: (method, f"/{prefix}/{route['route']}")
        for route in indexed_app()["routes"]
        for method in route["methods"]
    }
    documented = {
        operation_id: (operation.method, operation.url_path) for operation_id, operation in operations().items()
    }
    assert documented == registered


def test_security_follows_each_auth_level() -> None:
    schemes = document()["components"]["securitySchemes"]
    for route in indexed_app()["routes"]:
        security = operations()[route["name"]].spec.get("security")
        if route["auth"] == "ANONYMOUS":
            assert security == [], route["name"]  # explicit, so no global requirement can apply
            continue
        # Each alternative is one key, presented the ways the host reads keys.
        assert security, route["name"]
        assert all(len(requirement) == 1 for requirement in security), route["name"]
        names = {name for requirement in security for name in requirement}
        assert names == KEY_SCHEMES[route["auth"]], route["name"]
        ways = {(schemes[name]["type"], schemes[name]["in"], schemes[name]["name"]) for name in names}
        assert ways == {("apiKey", "header", KEY_HEADER), ("apiKey", "query", KEY_QUERY_PARAMETER)}, route["name"]


def test_keyed_routes_document_the_hosts_empty_401() -> None:
    for route in indexed_app()["routes"]:
        if route["auth"] != "ANONYMOUS":
            assert "content" not in resolve(operations()[route["name"]].spec["responses"]["401"]), route["name"]


def record(name: str) -> dict[str, Any]:
    found: dict[str, Any] = component("schemas", "EventRecord")["properties"][name]
    return found


PATTERNS = [
    pytest.param(lambda: component("parameters", "Source")["schema"], anchored(SOURCE_NAME), id="source-parameter"),
    pytest.param(lambda: component("parameters", "EventId")["schema"], anchored(routes.EVENT_ID), id="id-parameter"),
    pytest.param(
        lambda: component("schemas", "OptionalEventIdHeader")["anyOf"][1], anchored(routes.EVENT_ID), id="id-header"
    ),
    pytest.param(
        lambda: component("schemas", "OptionalEventTypeHeader")["anyOf"][1],
        anchored(routes.EVENT_TYPE),
        id="type-header",
    ),
    pytest.param(
        lambda: parameter("list_events", "type")["schema"], anchored(routes.EVENT_TYPE), id="type-query-parameter"
    ),
    pytest.param(lambda: record("id"), anchored(routes.EVENT_ID), id="record-id"),
    pytest.param(lambda: record("source"), anchored(SOURCE_NAME), id="record-source"),
    pytest.param(lambda: record("type"), anchored(routes.EVENT_TYPE), id="record-type"),
    pytest.param(
        lambda: record("blob"), f"^{blob_name(SOURCE_NAME.pattern, routes.EVENT_ID.pattern)}$", id="record-blob"
    ),
    pytest.param(
        lambda: parameter("ingest_webhook", signing.SIGNATURE_HEADER)["schema"],
        f"^{re.escape(signing.PREFIX)}[0-9a-f]{{64}}$",
        id="signature-header",
    ),
]


@pytest.mark.parametrize(("documented", "expected"), PATTERNS)
def test_documented_pattern_is_the_codes(documented: Callable[[], dict[str, Any]], expected: str) -> None:
    assert documented()["pattern"] == expected


def test_delivery_headers_are_the_ones_the_code_reads() -> None:
    headers = [p["name"] for p in operations()["ingest_webhook"].spec["parameters"] if p["in"] == "header"]
    # Listed in the code's order of precedence: the first non-empty one wins.
    expected = [signing.SIGNATURE_HEADER, *routes.DELIVERY_ID_HEADERS, *routes.EVENT_TYPE_HEADERS]
    assert sorted(headers, key=expected.index) == headers
    assert set(headers) == set(expected)


def test_page_limits_are_the_codes() -> None:
    limit = parameter("list_events", "limit")["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, routes.MAX_LIMIT, routes.DEFAULT_LIMIT)
    assert component("schemas", "EventPage")["properties"]["items"]["maxItems"] == routes.MAX_LIMIT


def test_received_at_pattern_matches_the_stored_timestamps() -> None:
    pattern = component("schemas", "EventRecord")["properties"]["receivedAt"]["pattern"]
    now = datetime.datetime.now(datetime.UTC)
    for moment in (now, now.replace(microsecond=0), datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=datetime.UTC)):
        assert re.fullmatch(pattern, utc_timestamp(moment)), utc_timestamp(moment)


def test_problem_documents_match_the_codes_problems() -> None:
    assert component("schemas", "Problem")["properties"]["type"]["pattern"].startswith(f"^{problems.TYPE_PREFIX}")
    dependency = component("schemas", "DependencyUnavailableProblem")["properties"]["dependency"]
    code_names = {dependencies.IDENTITY, dependencies.KEY_VAULT, dependencies.BLOB, dependencies.COSMOS}
    assert set(dependency["enum"]) == code_names
    retry_after = component("headers", "RetryAfter")
    assert retry_after["required"] is True
    assert retry_after["schema"]["minimum"] <= problems.RETRY_AFTER_SECONDS


def test_every_problem_response_states_its_own_status() -> None:
    for operation_id, operation in operations().items():
        for code, response in operation.spec["responses"].items():
            media = resolve(response).get("content", {}).get(problems.CONTENT_TYPE)
            if media is None:
                continue
            schema = resolve(media["schema"])
            for variant in (resolve(v) for v in schema.get("oneOf", [schema])):
                assert variant["properties"]["status"]["const"] == int(code), (operation_id, code)
                assert variant["properties"]["type"]["const"].startswith(problems.TYPE_PREFIX), (operation_id, code)
                if code == "503":
                    assert "Retry-After" in resolve(response)["headers"], (operation_id, code)


def documented_problems() -> set[tuple[int, str]]:
    schemas = document()["components"]["schemas"]
    return {
        (schema["properties"]["status"]["const"], schema["properties"]["type"]["const"])
        for name, schema in schemas.items()
        if name.endswith("Problem") and name != "Problem"
    }


def test_every_catalogued_problem_type_is_documented() -> None:
    """A bug's 500 is the one type no operation promises."""
    catalogued = {(kind.status, problems.TYPE_PREFIX + kind.slug) for kind in problems.CATALOGUE}
    assert catalogued - {(500, problems.TYPE_PREFIX + problems.INTERNAL_ERROR.slug)} == documented_problems()


def test_problems_the_code_raises_are_the_catalogued_types() -> None:
    answered = [
        problems.bad_request("detail"),
        problems.not_found("detail"),
        ingest.invalid_signature(),
        store.conflict("id"),
        secret_cache.secret_missing("source"),
        problems.dependency_unavailable(dependencies.BLOB),
        problems.internal_error(),
    ]
    catalogue = {(kind.status, kind.slug, kind.title) for kind in problems.CATALOGUE}
    assert {(problem.status, problem.slug, problem.title) for problem in answered} <= catalogue
