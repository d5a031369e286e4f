"""Diagnostics probes every declared action, in declaration order, and words what stopped a check.

The feature's probes are held to its declaration: every action access.toml declares (and grants.json,
generated from it, lists) has a probe, and no probe performs an undeclared one.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from azure.core.exceptions import HttpResponseError

from frame import access
from frame.access import Location
from frame.diagnostics import Probe, run_check, steps
from tests.unit.conftest import BLOBS, COSMOS, SETTINGS
from tests.unit.service_errors import PRINCIPAL, cosmos_error, key_vault_error, storage_error
from tests.unit.test_settings import VALID
from webhooks import probes
from webhooks.settings import WebhookSettings
from webhooks.store import Containers

ROOT = Path(__file__).resolve().parents[2]  # the repository root
FEATURE = ROOT / "webhooks"


def feature_probes() -> set[tuple[str, str]]:
    """The (resource, action) pairs the webhook feature registers probes for; nothing is called."""
    placeholder = cast("Any", None)
    containers = Containers(events=placeholder, digests=placeholder, index=placeholder)
    checkup = probes.build_checkup(SETTINGS, WebhookSettings.from_environment(VALID), placeholder, containers)
    return set(checkup.probes)


def declared_in_access_toml() -> set[tuple[str, str]]:
    document = tomllib.loads((FEATURE / "access.toml").read_text())
    return {(resource["name"], entry["action"]) for resource in document["resource"] for entry in resource["actions"]}


@pytest.fixture
def feature_grants(monkeypatch: pytest.MonkeyPatch) -> Iterator[access.Grants]:
    monkeypatch.setattr(access, "_grants_file", FEATURE / "grants.json")
    access.grants.cache_clear()
    yield access.grants()
    access.grants.cache_clear()


def test_every_declared_action_has_a_probe(feature_grants: access.Grants) -> None:
    declared = {(a.resource, a.action) for a in feature_grants.actions}
    assert declared == declared_in_access_toml(), "grants.json is stale: python -m devstack grants --write"
    assert declared - feature_probes() == set(), "declared, but diagnostics never performs it"


def test_no_probe_performs_an_undeclared_action() -> None:
    assert feature_probes() - declared_in_access_toml() == set(), "probed, but not declared in access.toml"


def test_a_check_runs_each_resource_of_its_service_in_declaration_order(feature_grants: access.Grants) -> None:
    called: list[tuple[str, str]] = []

    def recording(key: tuple[str, str]) -> Probe:
        async def probe() -> None:
            called.append(key)

        return probe

    registered = {key: recording(key) for key in feature_probes()}
    planned = steps(feature_grants, "blob", registered)
    assert [(d.resource, d.action) for d, _ in planned] == [
        ("archive", f"{BLOBS}/add/action"),
        ("archive", f"{BLOBS}/read"),
        ("digests", f"{BLOBS}/write"),
        ("digests", f"{BLOBS}/read"),
    ]


async def test_a_check_stops_at_the_first_refusal_and_names_it(grants_file: Path) -> None:
    ran: list[str] = []

    async def allowed() -> None:
        ran.append("metadata")

    async def refused() -> None:
        ran.append("query")
        raise cosmos_error("... does not have required RBAC permissions ...", substatus=5301)

    async def never() -> None:
        ran.append("after")

    grants = access.grants()
    probes_by_key = {
        ("index", f"{COSMOS}/readMetadata"): allowed,
        ("index", f"{COSMOS}/sqlDatabases/containers/executeQuery"): refused,
        ("index", f"{COSMOS}/sqlDatabases/containers/items/delete"): never,
    }
    result = await run_check("cosmos", steps(grants, "cosmos", probes_by_key), budget=1.0)
    report = result.as_json(SETTINGS, {"index": Location(database="inbox", container="events")}, PRINCIPAL)
    assert ran == ["metadata", "query"]
    assert (report["ok"], report["status"]) == (False, 403)
    assert report["action"] == f"{COSMOS}/sqlDatabases/containers/executeQuery"
    assert "--scope /dbs/inbox/colls/events" in str(report["hint"])


async def test_a_declared_action_without_a_probe_fails_its_check(grants_file: Path) -> None:
    result = await run_check("blob", steps(access.grants(), "blob", {}), budget=1.0)
    assert result.ok is False
    assert result.error == f"no probe is registered for {BLOBS}/write on archive"


NETWORK = [
    ("keyvault", "signing-secrets", key_vault_error("ForbiddenByConnection", "Public network access is disabled")),
    ("blob", "archive", storage_error("AuthorizationFailure", "This request is not authorized to perform this.")),
    ("cosmos", "index", cosmos_error("Request originated from IP 203.0.113.7 through public internet. Blocked.")),
]


@pytest.mark.parametrize(("service", "resource", "error"), NETWORK, ids=[n for n, _, _ in NETWORK])
async def test_a_check_refused_by_the_network_gets_the_network_hint(
    service: str, resource: str, error: HttpResponseError, grants_file: Path
) -> None:
    async def refused() -> None:
        raise error

    declared = access.grants().of_resource(resource)[0]
    result = await run_check(service, [(declared, refused)], budget=1.0)
    report = result.as_json(SETTINGS, {}, PRINCIPAL)
    assert (report["ok"], report["status"], report["action"]) == (False, 403, declared.action)
    assert "network rules refused the request" in str(report["error"])
    assert "not for a missing role" in str(report["hint"])
    assert "--role" not in str(report["hint"])
