"""The local services' access audit (devstack/audit.py) on a running stack: each data-plane request
becomes one record in its Azure table's columns, refusals included, and `python -m devstack audit`
shows them.

Requests go over raw HTTP through the stack's proxy, one request each, so "one record per request" is
countable (the SDKs retry and read metadata on their own).
"""

from __future__ import annotations

import email.utils
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests
from devstack.audit import AUDIT_FOLDER, read_records
from devstack.testing import StackInfo

SECRET = "greeting"  # the minimal app's declared secret (tests/minimal_app)
DATABASE, CONTAINER = "notebook", "pages"
TABLES = {"keyvault": "AZKVAuditLogs", "blob": "StorageBlobLogs", "cosmos": "CDBDataPlaneRequests"}


@pytest.fixture
def stack(devstack: StackInfo) -> StackInfo:
    return devstack


def audit_dir(stack: StackInfo) -> Path:
    return stack.state_dir / "logs" / AUDIT_FOLDER


def records(stack: StackInfo, service: str) -> list[dict[str, Any]]:
    return list(read_records(audit_dir(stack), [TABLES[service]]))


def who(record: dict[str, Any]) -> str:
    """The caller's object id, from whichever column the record's table keeps it in."""
    claim = (record.get("Identity") or {}).get("claim", {})
    return str(claim.get("oid") or record.get("RequesterObjectId") or record.get("AadPrincipalId") or "")


def send(stack: StackInfo, method: str, url: str, headers: dict[str, str], body: bytes = b"") -> requests.Response:
    """One request to a service's Azure name, through the stack's proxy, as the app's clients reach it."""
    proxy = stack.env.devstack["proxyUrl"]
    return requests.request(
        method, url, headers=headers, data=body, verify=stack.ca, proxies={"https": proxy}, timeout=10
    )


def keyvault_get(stack: StackInfo, who: str, name: str) -> requests.Response:
    token = stack.mint("https://vault.azure.net", who=who)
    url = f"{stack.vault_url.rstrip('/')}/secrets/{name}?api-version=7.5"
    return send(stack, "GET", url, {"Authorization": f"Bearer {token}"})


def blob_put(stack: StackInfo, who: str, name: str) -> requests.Response:
    token = stack.mint("https://storage.azure.com", who=who)
    url = f"{stack.blob_url.rstrip('/')}/{stack.settings['NOTES_CONTAINER']}/{name}"
    headers = {
        "Authorization": f"Bearer {token}",
        "x-ms-version": "2025-01-05",
        "x-ms-blob-type": "BlockBlob",
        "x-ms-client-request-id": str(uuid.uuid4()),
    }
    return send(stack, "PUT", url, headers, b"note")


def cosmos_create(stack: StackInfo, who: str, item: str) -> requests.Response:
    host = urlsplit(stack.cosmos_url).hostname
    token = stack.mint(f"https://{host}", who=who)
    url = f"https://{host}/dbs/{DATABASE}/colls/{CONTAINER}/docs"
    headers = {
        "Authorization": quote(f"type=aad&ver=1.0&sig={token}", safe=""),
        "x-ms-date": email.utils.formatdate(usegmt=True),
        "x-ms-version": "2020-07-15",
        "x-ms-documentdb-partitionkey": json.dumps(["audit"]),
        "Content-Type": "application/json",
    }
    return send(stack, "POST", url, headers, json.dumps({"id": item, "book": "audit"}).encode())


REQUESTS: dict[str, Callable[[StackInfo, str, str], requests.Response]] = {
    "keyvault": keyvault_get,
    "blob": blob_put,
    "cosmos": cosmos_create,
}
# The service's own operation name for each request above, as its table logs it.
OPERATIONS = {"keyvault": "SecretGet", "blob": "PutBlob", "cosmos": "Create"}


def wait_for(stack: StackInfo, service: str, count: int) -> list[dict[str, Any]]:
    """The service's records once there are `count` of them (written as the answer leaves)."""
    deadline = time.monotonic() + 5
    found = records(stack, service)
    while len(found) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        found = records(stack, service)
    return found


@pytest.mark.parametrize("service", TABLES)
def test_a_refused_request_is_one_record_naming_the_identity_and_the_operation(stack: StackInfo, service: str) -> None:
    before = len(records(stack, service))
    name = f"audit-{uuid.uuid4().hex[:12]}"
    response = REQUESTS[service](stack, "outsider", name)
    assert response.status_code == 403, response.text[:300]
    new = wait_for(stack, service, before + 1)[before:]
    assert len(new) == 1, new
    (record,) = new
    assert who(record) == stack.object_id("outsider")
    assert record["OperationName"] == OPERATIONS[service]
    assert str(record.get("HttpStatusCode", record.get("StatusCode"))) == "403"
    assert record["Type"] == TABLES[service]


def test_the_refused_data_action_is_in_the_record_where_the_table_has_room_for_it(stack: StackInfo) -> None:
    """Key Vault writes its 403's message (which names the action) as the result description; Storage
    lists each permission it checked in AuthorizationDetails."""
    keyvault_get(stack, "outsider", SECRET)
    vault = [r for r in records(stack, "keyvault") if who(r) == stack.object_id("outsider")][-1]
    assert "Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'" in vault["ResultDescription"]
    assert vault["IsRbacAuthorized"] is False
    blob_put(stack, "outsider", f"audit-{uuid.uuid4().hex[:12]}")
    blob = [r for r in records(stack, "blob") if who(r) == stack.object_id("outsider")][-1]
    denied = {d["action"] for d in blob["AuthorizationDetails"] if d["result"] == "Denied"}
    assert "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write" in denied


def test_an_allowed_request_names_the_role_assignment_that_allowed_it(stack: StackInfo) -> None:
    """AppliedAssignmentId is the GUID name of the assignment infra/ makes (the model's, in env.json's
    access file), for the app's identity reading its secret."""
    assignments = json.loads(Path(stack.env.devstack["accessFile"]).read_text())["assignments"]
    (granting,) = [a for a in assignments if a["source"].endswith(":readGreeting")]
    response = keyvault_get(stack, "app", SECRET)
    assert response.status_code == 200
    mine = [r for r in records(stack, "keyvault") if who(r) == stack.object_id("app")]
    assert mine[-1]["AppliedAssignmentId"] == granting["id"].rsplit("/", 1)[-1]
    assert mine[-1]["IsRbacAuthorized"] is True
    assert mine[-1]["ResultSignature"] == "OK"


def test_a_request_without_a_token_is_logged_as_authentication_with_no_identity(stack: StackInfo) -> None:
    before = len(records(stack, "keyvault"))
    response = send(stack, "GET", f"{stack.vault_url.rstrip('/')}/secrets/{SECRET}?api-version=7.5", {})
    assert response.status_code == 401
    (record,) = wait_for(stack, "keyvault", before + 1)[before:]
    assert record["OperationName"] == "Authentication"
    assert "Identity" not in record


def test_records_hold_no_token_and_are_the_owners_only(stack: StackInfo) -> None:
    token = stack.mint("https://storage.azure.com", who="outsider")
    signature = token.rsplit(".", 1)[-1]
    blob_put(stack, "outsider", f"audit-{uuid.uuid4().hex[:12]}")
    for path in audit_dir(stack).glob("*.jsonl"):
        content = path.read_text()
        assert signature not in content
        assert "eyJ" not in content  # how every JWT (and its header) starts
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


def test_the_audit_command_prints_one_line_per_refusal(stack: StackInfo) -> None:
    name = f"audit-{uuid.uuid4().hex[:12]}"
    assert keyvault_get(stack, "outsider", name).status_code == 403
    done = subprocess.run(
        [sys.executable, "-m", "devstack", "audit", "--denied", "--state-dir", str(stack.state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    mine = [line for line in done.stdout.splitlines() if name in line]
    assert len(mine) == 1, done.stdout[-2000:]
    assert "keyvault" in mine[0]
    assert "403 Forbidden" in mine[0]
    assert "outsider" in mine[0]  # the running stack's env.json names the identity
    assert "SecretGet" in mine[0]
    assert "refused Microsoft.KeyVault/vaults/secrets/getSecret/action" in mine[0]
    every = [line for line in done.stdout.splitlines() if line]
    assert all((" 401" in line or " 403" in line) for line in every), every[:5]
