"""GET /api/diagnostics: who the app runs as, and whether each role it needs works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from devstack.testing import StackInfo

from inbox import permissions
from inbox.signing import sign
from tests.integration.inbox_api import Inbox

ROOT = Path(__file__).resolve().parents[2]  # the repository root

MASTER_KEY = "diagnostics-test-master-key"


def test_diagnostics_reports_the_identity_and_passing_checks(inbox: Inbox) -> None:
    response = inbox.get("diagnostics", key="master")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["identity"]["kind"] == "user"
    assert report["identity"]["clientId"] == inbox.stack.client_id("app")
    assert report["identity"]["principalId"] == inbox.stack.object_id("app")
    checks = {c["name"]: c for c in report["checks"]}
    assert set(checks) == {"keyvault", "blob", "cosmos"}
    for check in checks.values():
        assert check["ok"] is True
        assert check["status"] == 200
        assert check["latencyMs"] >= 0
        assert check["error"] is None
        assert check["hint"] is None


@pytest.mark.parametrize("key", ["none", "function"])
def test_diagnostics_needs_the_admin_key(inbox: Inbox, key: str) -> None:
    assert inbox.get("diagnostics", key=key).status_code == 401


@pytest.fixture(scope="module")
def roleless_host(devstack: StackInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second host serving the same app, running as an identity that holds no role anywhere."""
    env = {**os.environ, **devstack.settings, "AZURE_CLIENT_ID": devstack.client_id("outsider")}
    env |= {"DEVSTACK_FUNCTION_KEY": "unused-function-key", "DEVSTACK_MASTER_KEY": MASTER_KEY}
    log = (tmp_path_factory.mktemp("roleless") / "host.log").open("wb")
    host = subprocess.Popen(
        [sys.executable, "-m", "devstack.funchost", "--app-dir", str(ROOT), "--port", "0"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        cwd=ROOT,
    )
    assert host.stdout is not None
    ready = json.loads(host.stdout.readline())
    assert ready["event"] == "ready"
    yield f"http://127.0.0.1:{ready['port']}"  # the host binds its own port and reports it
    host.terminate()
    host.wait(10)


def test_refused_roles_come_with_the_command_that_grants_them(roleless_host: str, devstack: StackInfo) -> None:
    response = requests.get(f"{roleless_host}/api/diagnostics", headers={"x-functions-key": MASTER_KEY}, timeout=60)
    assert response.status_code == 503
    report = response.json()
    outsider = devstack.object_id("outsider")
    assert report["identity"]["principalId"] == outsider
    checks = {c["name"]: c for c in report["checks"]}
    # Each check stops at the first data action the code needs, and names it and its grant in infra/.
    expected = {
        "keyvault": (permissions.LIST_SECRET_VERSIONS, "'Key Vault Secrets User' at vault scope", "az role"),
        "blob": (permissions.ARCHIVE_PAYLOAD, "'Storage Blob Data Contributor' at container scope", "az role"),
        "cosmos": (permissions.READ_INDEX_METADATA, "at container scope", "az cosmosdb sql role assignment"),
    }
    for name, (need, grant, command) in expected.items():
        assert checks[name]["status"] == 403, checks[name]
        assert checks[name]["action"] == need.action
        hint = checks[name]["hint"]
        assert need.action in hint
        assert grant in hint
        assert command in hint
        assert outsider in hint
    settings = devstack.settings
    assert (
        f"--scope /dbs/{settings['COSMOS_DATABASE']}/colls/{settings['COSMOS_CONTAINER']}" in checks["cosmos"]["hint"]
    )
    text = response.text
    assert "eyJ" not in text  # no JWT
    assert devstack.settings["IDENTITY_HEADER"] not in text


def test_ingest_with_a_refused_identity_is_a_503_not_a_500(roleless_host: str) -> None:
    response = requests.post(
        f"{roleless_host}/api/webhooks/github",
        data=b"{}",
        headers={"X-Hub-Signature-256": sign("whatever", b"{}"), "X-GitHub-Delivery": "roleless-1"},
        timeout=60,
    )
    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "diagnostics" in response.json()["detail"]
