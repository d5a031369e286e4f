"""GET /api/diagnostics: who the app runs as, and whether each role it needs works."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from devstack.testing import StackInfo

from tests.integration.inbox_api import Inbox
from webhooks import probes
from webhooks.signing import sign

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


@dataclass(frozen=True)
class RolelessHost:
    url: str
    log: Path  # the host's JSON lines, the app's own records among them

    def records(self, logger: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The app's records from `logger`, waiting a moment for the host to write them."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.log.read_text(errors="replace").splitlines()
            records = [json.loads(line) for line in lines if line.startswith("{")]
            found = [record for record in records if record.get("logger") == logger]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


@pytest.fixture(scope="module")
def roleless_host(devstack: StackInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RolelessHost]:
    """A second host serving the same app, running as an identity that holds no role anywhere."""
    env = {**os.environ, **devstack.settings, "AZURE_CLIENT_ID": devstack.client_id("outsider")}
    env |= {"DEVSTACK_FUNCTION_KEY": "unused-function-key", "DEVSTACK_MASTER_KEY": MASTER_KEY}
    log_path = tmp_path_factory.mktemp("roleless") / "host.log"
    log = log_path.open("wb")
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
    yield RolelessHost(f"http://127.0.0.1:{ready['port']}", log_path)  # the host binds its own port and reports it
    host.terminate()
    host.wait(10)


def test_refused_roles_come_with_the_command_that_grants_them(roleless_host: RolelessHost, devstack: StackInfo) -> None:
    response = requests.get(f"{roleless_host.url}/api/diagnostics", headers={"x-functions-key": MASTER_KEY}, timeout=60)
    assert response.status_code == 503
    report = response.json()
    outsider = devstack.object_id("outsider")
    assert report["identity"]["principalId"] == outsider
    checks = {c["name"]: c for c in report["checks"]}
    # Each check stops at the first data action the code needs, and names it and its grant in infra/.
    expected = {
        "keyvault": (probes.LIST_SECRET_VERSIONS, "'Key Vault Secrets User' at vault scope", "az role"),
        "blob": (probes.CREATE_BLOB, "'Inbox app: archive payloads", "az role"),
        "cosmos": (probes.READ_METADATA, "at container scope", "az cosmosdb sql role assignment"),
    }
    for name, (action, grant, command) in expected.items():
        assert checks[name]["status"] == 403, checks[name]
        assert checks[name]["action"] == action
        hint = checks[name]["hint"]
        assert action in hint
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


def test_ingest_with_a_refused_identity_is_a_503_and_one_warning_naming_the_refusal(
    roleless_host: RolelessHost,
) -> None:
    response = requests.post(
        f"{roleless_host.url}/api/webhooks/github",
        data=b"{}",
        headers={"X-Hub-Signature-256": sign("whatever", b"{}"), "X-GitHub-Delivery": "roleless-1"},
        timeout=60,
    )
    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "diagnostics" in response.json()["detail"]
    # Key Vault's own answer names the action and the secret; grants.json names the role.
    (refusal,) = roleless_host.records("frame.dependencies")
    assert refusal["level"] == "WARNING"
    assert re.fullmatch(
        f"keyvault refused the app's identity {re.escape(probes.LIST_SECRET_VERSIONS)} on "
        "/subscriptions/[^ ]+/providers/microsoft.keyvault/vaults/[^ /]+/secrets/webhook-github "
        r"\(403 ForbiddenByRbac\); infra/ grants it with 'Key Vault Secrets User' at vault scope",
        refusal["message"],
    ), refusal["message"]
