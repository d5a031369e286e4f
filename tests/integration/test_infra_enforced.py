"""The local services enforce what infra/ grants: "works locally, 403 in Azure" fails here first.

Each mutation starts a stack from a copy of infra/ with one grant removed or narrowed and shows the
app failing the way it would in Azure: a 503 naming the dependency (never a 500), one WARNING line in
the log naming the refusal, and a diagnostics check that names the refused data action, the role
infra/ grants it with, and the command. The
unchanged infra/ is checked from the other side: every call the app made on the session's stack was
allowed by an assignment the model found, and for nothing the code does not declare.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from devstack.pytest_plugin import StartStack
from devstack.testing import StackInfo
from infra_model.roles import BUILT_IN_ROLES
from infra_model.syntax import BicepFile

from tests.infra.conftest import copy_infra, drop_resource, replace_text
from tests.integration.conftest import inbox_for
from tests.integration.inbox_api import Inbox, assert_problem, new_id
from webhooks import probes

ACCESS = Path("modules") / "access.bicep"
BLOB_DATA_READER = next(role.id for role in BUILT_IN_ROLES if role.name == "Storage Blob Data Reader")


def narrow_to_reader(root: Path) -> None:
    """The events container's create-and-read role becomes Blob Data Reader, in that one resource."""
    path = root / ACCESS
    file = BicepFile(path)
    body = file.resources["appEventsArchiver"].body
    role = body.text or b""
    narrowed = role.replace(
        b"'Microsoft.Authorization/roleDefinitions', appArchiveRole.name",
        f"'Microsoft.Authorization/roleDefinitions', '{BLOB_DATA_READER}'".encode(),
    )
    assert narrowed != role
    path.write_bytes(file.source[: body.start_byte] + narrowed + file.source[body.end_byte :])


def without_query(root: Path) -> None:
    replace_text(root / ACCESS, "'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/executeQuery'\n", "")


MUTATIONS: dict[str, Callable[[Path], None]] = {
    "digests-role-removed": lambda root: drop_resource(root / ACCESS, "appDigestsContributor"),
    "query-not-in-cosmos-role": without_query,
    "secrets-user-removed": lambda root: drop_resource(root / ACCESS, "appSecretsUser"),
    "events-role-narrowed-to-reader": narrow_to_reader,
}


@pytest.fixture(scope="module", params=sorted(MUTATIONS))
def mutated(request: pytest.FixtureRequest, start_stack: StartStack, tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = copy_infra(tmp_path_factory.mktemp("infra") / "infra")
    MUTATIONS[request.param](root)
    return request.param, inbox_for(start_stack("--infra-dir", str(root)))


def check(inbox: Inbox, name: str) -> dict[str, Any]:
    response = inbox.get("diagnostics", key="master")
    assert response.status_code == 503, response.text
    (found,) = [c for c in response.json()["checks"] if c["name"] == name]
    assert found["ok"] is False
    assert found["status"] == 403
    return dict(found)


# What each mutation's refusal line says: the service's own words where it names the action (Key Vault,
# Cosmos DB), the operations map's where grants.json has one (Storage), else "an action"; then the role.
BLOB_ACTION = r"(?:Microsoft\.Storage/\S+ \(\w+\.\w+\)|an action)"
CONTRIBUTOR = "infra/ grants it with 'Storage Blob Data Contributor' at container scope"
ARCHIVER = r"infra/ grants it with 'Inbox app: archive payloads \(\w+\)' at container scope"
OPERATIONS_UNKNOWN = "neither the answer nor the operations map names the action"
REFUSAL_LINES = {
    "secrets-user-removed": f"keyvault refused the app's identity {re.escape(probes.LIST_SECRET_VERSIONS)} on "
    r"/subscriptions/\S+/secrets/webhook-github \(403 ForbiddenByRbac\); "
    "infra/ grants it with 'Key Vault Secrets User' at vault scope",
    "events-role-narrowed-to-reader": f"blob refused the app's identity {BLOB_ACTION} on /events/github/\\S+ "
    rf"\(403 AuthorizationPermissionMismatch\); (?:{ARCHIVER}|{OPERATIONS_UNKNOWN}.*)",
    "query-not-in-cosmos-role": f"cosmos refused the app's identity {re.escape(probes.QUERY_ITEMS)} on "
    r"dbs/\S+/colls/\S+ \(403 sub-status 5301\); "
    "infra/ grants it with 'Inbox app: index and query events' at container scope",
    # Reading a blob is declared on both containers, granted by different roles: the line names both.
    "digests-role-removed": f"blob refused the app's identity {BLOB_ACTION} on /digests/\\S+\\.json "
    rf"\(403 AuthorizationPermissionMismatch\); (?:{CONTRIBUTOR}|for archive: {ARCHIVER}; for digests: {CONTRIBUTOR}"
    rf"|{OPERATIONS_UNKNOWN}.*)",
}


def test_a_missing_grant_fails_as_in_azure(mutated: tuple[str, Inbox]) -> None:
    mutation, inbox = mutated
    if mutation == "secrets-user-removed":
        body = assert_problem(inbox.deliver("github", b"{}", event_id=new_id()), 503, "dependency-unavailable")
        assert body["dependency"] == "keyvault"
        refused, expected = check(inbox, "keyvault"), probes.LIST_SECRET_VERSIONS
    elif mutation == "events-role-narrowed-to-reader":
        body = assert_problem(inbox.deliver("github", b"{}", event_id=new_id()), 503, "dependency-unavailable")
        assert body["dependency"] == "blob"
        refused, expected = check(inbox, "blob"), probes.CREATE_BLOB
    elif mutation == "query-not-in-cosmos-role":
        assert inbox.deliver("github", b"{}", event_id=new_id()).status_code == 202  # create is still granted
        body = assert_problem(inbox.get("webhooks/github/events"), 503, "dependency-unavailable")
        assert body["dependency"] == "cosmos"
        refused, expected = check(inbox, "cosmos"), probes.QUERY_ITEMS
    else:
        run = inbox.run_timer("daily_digest").json()
        assert run["status"] == "Failed"
        failure = failed_record(inbox.stack, run["invocationId"])
        assert "dependency-unavailable" in failure["exception"]
        refused, expected = check(inbox, "blob"), probes.WRITE_BLOB
    assert refused["action"] == expected
    assert expected in refused["hint"]
    assert "az " in refused["hint"]
    # Each refused call is one WARNING line naming the action, its scope and the role (diagnostics logs none).
    lines = refusal_records(inbox.stack)
    assert lines, "no refusal was logged"
    for line in lines:
        assert line["level"] == "WARNING"
        assert re.fullmatch(REFUSAL_LINES[mutation], str(line["message"])), line["message"]


def test_hints_name_the_role_and_scope_infra_grants(mutated: tuple[str, Inbox]) -> None:
    mutation, inbox = mutated
    expected = {
        "secrets-user-removed": ("keyvault", "'Key Vault Secrets User' at vault scope"),
        "events-role-narrowed-to-reader": ("blob", "'Inbox app: archive payloads"),
        "query-not-in-cosmos-role": ("cosmos", "at container scope"),
        "digests-role-removed": ("blob", "'Storage Blob Data Contributor' at container scope"),
    }[mutation]
    refused = check(inbox, expected[0])
    assert expected[1] in refused["hint"]
    assert inbox.stack.object_id("app") in refused["hint"]


def host_records(stack: StackInfo) -> list[dict[str, Any]]:
    """The function host's JSON log records, as an operator would read them."""
    lines = (Path(stack.env.devstack["logDir"]) / "functions.log").read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def refusal_records(stack: StackInfo, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The app's refusal lines: the stack's pump may write them a moment after the answer."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in host_records(stack) if r.get("logger") == "frame.dependencies"]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


# ---- the unchanged infra/: every call allowed by an assignment the model found -------------------


def test_every_call_the_app_makes_is_one_infra_grants(inbox: Inbox) -> None:
    event_id = new_id()
    assert inbox.deliver("github", b'{"zen": "audit"}', event_id=event_id).status_code == 202
    assert inbox.get(f"webhooks/github/events/{event_id}").status_code == 200
    assert inbox.get(f"webhooks/github/events/{event_id}/payload").status_code == 200
    assert inbox.get("webhooks/github/events").status_code == 200
    assert inbox.run_timer("daily_digest").json()["status"] == "Succeeded"
    assert inbox.get("diagnostics", key="master").status_code == 200

    app = inbox.stack.object_id("app")
    model = json.loads(Path(inbox.stack.env.devstack["accessFile"]).read_text())["assignments"]
    sources = {a["source"] for a in model if a["principalId"] == app}
    grants = json.loads((Path(__file__).resolve().parents[2] / "webhooks" / "grants.json").read_text())
    declared = {entry["action"].lower() for resource in grants["resources"] for entry in resource["actions"]}
    used: set[str] = set()
    for service, decisions in inbox.stack.authorizations().items():
        mine = [d for d in decisions if d["principalId"].lower() == app.lower()]
        assert mine, f"{service}: the app made no call the service authorised"
        for decision in mine:
            assert decision["allowed"], f"{service} refused the app {decision['action']} on {decision['scope']}"
            assert decision["source"] in sources
            used.add(decision["action"].lower())
    assert used <= declared, f"the code performs undeclared actions: {sorted(used - declared)}"
    assert used == declared, f"declared but never performed: {sorted(declared - used)}"


# ---- the system-assigned identity, with the app code unchanged --------------------------------------


@pytest.fixture(scope="module")
def system_inbox(start_stack: StartStack) -> Inbox:
    return inbox_for(start_stack("--env", "APP_IDENTITY_TYPE=SystemAssigned"))


def test_the_app_runs_as_its_system_assigned_identity(system_inbox: Inbox) -> None:
    stack = system_inbox.stack
    assert "AZURE_CLIENT_ID" not in stack.settings
    event_id = new_id()
    assert system_inbox.deliver("github", b'{"kind": "system"}', event_id=event_id).status_code == 202
    listed = system_inbox.get("webhooks/github/events").json()["items"]
    assert event_id in {item["id"] for item in listed}
    report = system_inbox.get("diagnostics", key="master").json()
    assert report["identity"]["kind"] == "system"
    assert report["identity"]["principalId"] == stack.object_id("system")
    assert all(c["ok"] for c in report["checks"]), report["checks"]


def test_the_user_assigned_identity_holds_no_role_in_system_mode(system_inbox: Inbox) -> None:
    model = json.loads(Path(system_inbox.stack.env.devstack["accessFile"]).read_text())["assignments"]
    holders = {a["principalId"] for a in model}
    assert system_inbox.stack.object_id("system") in holders
    assert system_inbox.stack.object_id("app") not in holders


def failed_record(stack: StackInfo, invocation_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The host's "Executed ... (Failed)" line: the log file is written by the stack's pump, which may
    lag the admin API's answer by a moment."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            r for r in host_records(stack) if r.get("invocationId") == invocation_id and r.get("status") == "Failed"
        ]
        if found or time.monotonic() > deadline:
            (record,) = found
            return record
        time.sleep(0.1)
